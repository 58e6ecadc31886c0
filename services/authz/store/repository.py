"""PostgreSQL access for the authz service (asyncpg). Every method runs inside the caller's
transaction; a write starts with `bump_revision`, whose row lock serializes writers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.authz.domain.entities import Entity, Stored, from_body, to_body
from services.authz.domain.errors import AlreadyExists
from services.authz.domain.lines import PolicyLine
from services.authz.store.casbin_adapter import delete_lines_by_source, insert_lines

NOTIFY_CHANNEL = "authz_policy"
# How long a request id answers a retry with the first response.
IDEMPOTENCY_TTL_S = 24 * 3600.0


class IdempotencyKey(NamedTuple):
    caller: str
    account: str
    method: str
    request_id: str


# A plain connection or one borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


def _stored(row: asyncpg.Record) -> Stored:
    return Stored(from_body(row["kind"], json.loads(row["body"])), row["etag"])


class Tx:
    """The store's operations on one connection inside one transaction."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def bump_revision(self) -> int:
        revision: int = await self.conn.fetchval(
            "UPDATE policy_revision SET revision = revision + 1 RETURNING revision"
        )
        return revision

    async def get(self, kind: str, scope: str, identifier: str) -> Stored | None:
        row = await self.conn.fetchrow(
            "SELECT kind, body, etag FROM entities"
            " WHERE kind = $1 AND scope = $2 AND identifier = $3",
            kind,
            scope,
            identifier,
        )
        return _stored(row) if row else None

    async def insert(self, entity: Entity, revision: int) -> None:
        try:
            await self.conn.execute(
                "INSERT INTO entities (kind, scope, identifier, body, etag)"
                " VALUES ($1, $2, $3, $4, $5)",
                entity.kind,
                entity.scope,
                entity.identifier,
                json.dumps(to_body(entity)),
                revision,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"{entity.kind} {entity.scope}/{entity.identifier} already exists"
            ) from None

    async def update(self, entity: Entity, revision: int) -> None:
        await self.conn.execute(
            "UPDATE entities SET body = $4, etag = $5, updated_at = now()"
            " WHERE kind = $1 AND scope = $2 AND identifier = $3",
            entity.kind,
            entity.scope,
            entity.identifier,
            json.dumps(to_body(entity)),
            revision,
        )

    async def delete(self, kind: str, scope: str, identifier: str) -> None:
        await self.conn.execute(
            "DELETE FROM entities WHERE kind = $1 AND scope = $2 AND identifier = $3",
            kind,
            scope,
            identifier,
        )

    async def list_page(self, kind: str, scope: str, after: str, limit: int) -> list[Stored]:
        rows = await self.conn.fetch(
            "SELECT kind, body, etag FROM entities"
            " WHERE kind = $1 AND scope = $2 AND identifier > $3 ORDER BY identifier LIMIT $4",
            kind,
            scope,
            after,
            limit,
        )
        return [_stored(r) for r in rows]

    async def bindings_using_role(self, role_scope: str, role: str) -> list[Stored]:
        return await self._bindings(
            "body->>'role_scope' = $1 AND body->>'role' = $2", role_scope, role
        )

    async def bindings_using_resource_group(self, scope: str, group: str) -> list[Stored]:
        return await self._bindings("scope = $1 AND body->>'resource_group' = $2", scope, group)

    async def bindings_of_principal(self, type_: str, scope: str, identifier: str) -> list[Stored]:
        return await self._bindings(
            "body->'principal'->>'identifier' = $3 AND body->'principal'->>'type' = $1"
            " AND body->'principal'->>'scope' = $2",
            type_,
            scope,
            identifier,
        )

    async def _bindings(self, condition: str, *args: Any) -> list[Stored]:
        rows = await self.conn.fetch(
            f"SELECT kind, body, etag FROM entities WHERE kind = 'role_binding' AND {condition}"
            " ORDER BY scope, identifier",
            *args,
        )
        return [_stored(r) for r in rows]

    async def groups_with_member(self, account: str, user: str) -> list[Stored]:
        rows = await self.conn.fetch(
            # Exact path matching: a LIKE pattern would treat '_' in the account as a wildcard.
            "SELECT kind, body, etag FROM entities WHERE kind = 'user_group'"
            " AND (scope = $1 OR starts_with(scope, $1 || '/')) AND body->'members' ? $2",
            account,
            user,
        )
        return [_stored(r) for r in rows]

    async def invited_users(self, account: str, identifiers: tuple[str, ...]) -> frozenset[str]:
        """Which of these users of the account are INVITED (their grants wait for acceptance)."""
        if not identifiers:
            return frozenset()
        rows = await self.conn.fetch(
            "SELECT identifier FROM entities WHERE kind = 'user' AND scope = $1"
            " AND identifier = ANY($2::text[]) AND body->>'state' = 'INVITED'",
            account,
            list(identifiers),
        )
        return frozenset(r["identifier"] for r in rows)

    async def roles_with_permission(self, permission: str) -> list[Stored]:
        rows = await self.conn.fetch(
            "SELECT kind, body, etag FROM entities WHERE kind = 'role'"
            " AND body->'permissions' ? $1",
            permission,
        )
        return [_stored(r) for r in rows]

    async def policy_sets_in(self, scope_paths: list[str]) -> tuple[list[Stored], list[Stored]]:
        """The policy sets defined in these scopes (exact paths: a change's scope chain), and
        the policies their enabled ones name: one round trip, inside the write's lock."""
        rows = await self.conn.fetch(
            "WITH sets AS (SELECT kind, body, etag FROM entities WHERE kind = 'policy_set'"
            " AND scope = ANY($1::text[]))"
            " SELECT kind, body, etag FROM sets UNION ALL"
            " SELECT kind, body, etag FROM entities WHERE kind = 'governance_policy'"
            " AND (scope, identifier) IN (SELECT r->>'scope', r->>'identifier' FROM sets,"
            " jsonb_array_elements(sets.body->'policies') r WHERE (sets.body->>'enabled')::bool)",
            scope_paths,
        )
        found = [_stored(r) for r in rows]
        return (
            [s for s in found if s.entity.kind == "policy_set"],
            [s for s in found if s.entity.kind == "governance_policy"],
        )

    async def policy_sets_using(self, scope: str, identifier: str) -> list[Stored]:
        rows = await self.conn.fetch(
            "SELECT kind, body, etag FROM entities WHERE kind = 'policy_set'"
            " AND body->'policies' @> $1::jsonb ORDER BY scope, identifier",
            json.dumps([{"scope": scope, "identifier": identifier}]),
        )
        return [_stored(r) for r in rows]

    async def all_governance_policies(self) -> list[Stored]:
        rows = await self.conn.fetch(
            "SELECT kind, body, etag FROM entities WHERE kind = 'governance_policy'"
        )
        return [_stored(r) for r in rows]

    async def permission_names(self) -> list[str]:
        rows = await self.conn.fetch("SELECT identifier FROM entities WHERE kind = 'permission'")
        return [r["identifier"] for r in rows]

    async def replace_lines(
        self, source: str, lines: list[PolicyLine]
    ) -> tuple[list[PolicyLine], list[PolicyLine]]:
        """Make `lines` the lines of `source`; return (removed, added) as a minimal diff."""
        old = await delete_lines_by_source(self.conn, source)
        await insert_lines(self.conn, lines, source)
        old_set, new_set = set(old), set(lines)
        return sorted(old_set - new_set), sorted(new_set - old_set)

    async def log_change(
        self, revision: int, added: list[PolicyLine], removed: list[PolicyLine]
    ) -> None:
        await self.conn.execute(
            "INSERT INTO policy_log (revision, added, removed) VALUES ($1, $2, $3)",
            revision,
            json.dumps([[line.ptype, *line.values] for line in added]),
            json.dumps([[line.ptype, *line.values] for line in removed]),
        )
        await self.conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(revision))

    async def insert_token(
        self,
        prefix: str,
        key: Stored,
        owner_kind: str,
        secret_hash: bytes,
        expires_at: datetime | None,
    ) -> None:
        api_key = key.entity
        await self.conn.execute(
            "INSERT INTO api_tokens (prefix, key_scope, key_identifier, owner_kind, owner_scope,"
            " owner_identifier, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            prefix,
            api_key.scope,
            api_key.identifier,
            owner_kind,
            api_key.owner.scope,
            api_key.owner.identifier,
            secret_hash,
            expires_at,
        )

    async def revoke_tokens(self, key_scope: str, key_identifier: str) -> list[str]:
        rows = await self.conn.fetch(
            "UPDATE api_tokens SET revoked_at = now()"
            " WHERE key_scope = $1 AND key_identifier = $2 AND revoked_at IS NULL RETURNING prefix",
            key_scope,
            key_identifier,
        )
        return [r["prefix"] for r in rows]

    async def delete_api_keys_of(self, owner_kind: str, scope: str, identifier: str) -> None:
        await self.conn.execute(
            "DELETE FROM entities WHERE kind = 'api_key' AND scope = $1"
            " AND body->'owner'->>'identifier' = $2 AND body->'owner'->>'type' = $3",
            scope,
            identifier,
            "USER" if owner_kind == "user" else "SERVICE_ACCOUNT",
        )

    async def api_keys_of(self, owner_kind: str, scope: str, identifier: str) -> list[Stored]:
        rows = await self.conn.fetch(
            "SELECT kind, body, etag FROM entities WHERE kind = 'api_key' AND scope = $1"
            " AND body->'owner'->>'identifier' = $2 AND body->'owner'->>'type' = $3"
            " ORDER BY identifier",
            scope,
            identifier,
            "USER" if owner_kind == "user" else "SERVICE_ACCOUNT",
        )
        return [_stored(r) for r in rows]

    async def remembered_response(self, key: IdempotencyKey) -> dict[str, Any] | None:
        raw = await self.conn.fetchval(
            "SELECT response FROM idempotent_requests WHERE caller = $1 AND account = $2"
            " AND method = $3 AND request_id = $4"
            " AND created_at > now() - make_interval(secs => $5)",
            *key,
            IDEMPOTENCY_TTL_S,
        )
        return json.loads(raw) if raw is not None else None

    async def remember_response(self, key: IdempotencyKey, response: dict[str, Any]) -> None:
        """Remember a response (replacing an expired record of the same key), and forget a few
        expired ones on the way, so the table stays bounded without a job of its own."""
        await self.conn.execute(
            "DELETE FROM idempotent_requests WHERE ctid = ANY(ARRAY(SELECT ctid FROM"
            " idempotent_requests WHERE created_at <= now() - make_interval(secs => $1)"
            " LIMIT 100))",
            IDEMPOTENCY_TTL_S,
        )
        await self.conn.execute(
            "INSERT INTO idempotent_requests (caller, account, method, request_id, response)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caller, account, method, request_id)"
            " DO UPDATE SET response = EXCLUDED.response, created_at = now()",
            *key,
            json.dumps(response).encode(),
        )

    async def revoke_tokens_of_owner(
        self, owner_kind: str, owner_scope: str, owner_identifier: str
    ) -> list[str]:
        rows = await self.conn.fetch(
            "UPDATE api_tokens SET revoked_at = now() WHERE owner_kind = $1 AND owner_scope = $2"
            " AND owner_identifier = $3 AND revoked_at IS NULL RETURNING prefix",
            owner_kind,
            owner_scope,
            owner_identifier,
        )
        return [r["prefix"] for r in rows]


def parse_log_lines(raw: str) -> list[PolicyLine]:
    return [PolicyLine(item[0], tuple(item[1:])) for item in json.loads(raw)]


async def token_record(conn: Conn, prefix: str) -> asyncpg.Record | None:
    """A token with its owner's existence: a deleted owner's tokens authenticate no one."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT t.secret_hash, t.expires_at, t.revoked_at, t.owner_kind, t.owner_scope,"
        " t.owner_identifier, e.body->>'email' AS owner_email,"
        # An invited user (not yet accepted) exists but authenticates no one.
        " e.identifier IS NOT NULL AND coalesce(e.body->>'state', 'ACTIVE') = 'ACTIVE'"
        " AS owner_exists"
        " FROM api_tokens t LEFT JOIN entities e ON e.kind = t.owner_kind"
        " AND e.scope = t.owner_scope AND e.identifier = t.owner_identifier"
        " WHERE t.prefix = $1",
        prefix,
    )
    return row


async def current_revision(conn: Conn) -> int:
    revision: int = await conn.fetchval("SELECT revision FROM policy_revision")
    return revision


async def log_since(conn: Conn, revision: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT revision, added, removed FROM policy_log WHERE revision > $1 ORDER BY revision",
        revision,
    )
