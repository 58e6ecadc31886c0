"""What the service provider says about itself (RFC 7644 section 4): its configuration, its
resource types and their schemas, described by scim2-models from the models it serves."""

from __future__ import annotations

import scim2_models as scim

from services.scim import mapping
from services.scim.resources import MAX_COUNT

CONFIG = scim.ServiceProviderConfig(
    patch=scim.Patch(supported=True),
    bulk=scim.Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=scim.Filter(supported=True, max_results=MAX_COUNT),
    change_password=scim.ChangePassword(supported=False),
    sort=scim.Sort(supported=False),
    etag=scim.ETag(supported=True),
    authentication_schemes=[
        scim.AuthenticationScheme(
            type=scim.AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer API key",
            description="The token of an authz API key of a service account of the account",
            primary=True,
        )
    ],
)

PROVIDER = scim.ScimProvider(
    models=[scim.User, scim.EnterpriseUser, scim.Group],
    resource_types=[
        scim.ResourceType.from_resource(mapping.USER_MODEL),
        scim.ResourceType.from_resource(scim.Group),
    ],
    config=CONFIG,
)
