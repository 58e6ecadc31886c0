-- The lookups identity providers make before each write (SCIM, services/scim): a user by its
-- login name (its identifier when it has none), users and groups by external id, groups by
-- name, ignoring case. The expressions are those of store/repository.py LOOKUP_FIELDS: keep
-- them identical, or the planner cannot use these indexes.
CREATE INDEX entities_lookup_user_name
    ON entities (kind, scope, lower(coalesce(nullif(body->>'user_name', ''), identifier)));
CREATE INDEX entities_lookup_external_id
    ON entities (kind, scope, lower(coalesce(body->>'external_id', '')));
CREATE INDEX entities_lookup_name
    ON entities (kind, scope, lower(coalesce(body->>'name', '')));
