"""jobclock's own extension: API tokens with roles and the audit trail (admin only).

``GET /jobclock/tokens``, ``POST /jobclock/tokens`` (``{"name", "role"}``; the answer is
the only time the token is shown), ``DELETE /jobclock/tokens/{name}`` and
``GET /jobclock/audit`` (newest first; ``$top``, ``identity`` and a ``nextLink``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from jobclock.access import AUDIT_PAGE, AccessService
from jobclock.api.arm import read_json_body
from jobclock.api.middleware import IDENTITY
from jobclock.domain.access import AuditEntry, Identity, Role, StoredToken
from jobclock.domain.errors import InvalidDefinition, Unauthorized
from jobclock.domain.instants import format_instant


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenCreate(_Wire):
    """The body of ``POST /jobclock/tokens``."""

    name: str
    role: Role


class TokenInfo(_Wire):
    name: str
    role: Role
    createdAt: str
    createdBy: str


class NewTokenInfo(TokenInfo):
    token: str


class TokenList(_Wire):
    value: list[TokenInfo]


class AuditRecord(_Wire):
    id: int
    time: str
    identity: str
    via: str
    operation: str
    resource: str
    status: int
    outcome: str
    requestId: str
    client: str


class AuditList(_Wire):
    value: list[AuditRecord]
    nextLink: str | None = None


def token_json(token: StoredToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "role": token.role.value,
        "createdAt": format_instant(token.created_at),
        "createdBy": token.created_by,
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": format_instant(entry.at),
        "identity": entry.identity,
        "via": entry.via,
        "operation": entry.operation,
        "resource": entry.resource,
        "status": entry.status,
        "outcome": entry.outcome,
        "requestId": entry.request_id,
        "client": entry.client,
    }


def _caller(request: Request) -> Identity:
    identity = request.scope.get("state", {}).get(IDENTITY)
    if not isinstance(identity, Identity):  # the middleware always sets it
        raise Unauthorized("Authentication failed.")
    return identity


def _token_body(body: object) -> tuple[str, Role]:
    if not isinstance(body, dict):
        raise InvalidDefinition("The body must be an object with 'name' and 'role'.")
    unknown = sorted(set(body) - {"name", "role"})
    if unknown:
        raise InvalidDefinition(f"unknown field '{unknown[0]}' (expected 'name' and 'role')")
    name, role = body.get("name"), body.get("role")
    if not isinstance(name, str):
        raise InvalidDefinition("'name' is required and must be a string.", field="name")
    if not isinstance(role, str):
        raise InvalidDefinition("'role' is required: one of reader, operator, admin.", field="role")
    try:
        return name, Role.parse(role)
    except ValueError as exc:
        raise InvalidDefinition(str(exc), field="role") from None


def access_routes(access: AccessService) -> APIRouter:
    router = APIRouter(tags=["Access"])

    @router.get(
        "/jobclock/tokens", operation_id="Tokens_List", responses={200: {"model": TokenList}}
    )
    async def list_tokens() -> JSONResponse:
        """Every token created on this server (never their secrets)."""
        return JSONResponse({"value": [token_json(t) for t in await access.list_tokens()]})

    @router.post(
        "/jobclock/tokens",
        operation_id="Tokens_Create",
        status_code=201,
        responses={201: {"model": NewTokenInfo}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": TokenCreate.model_json_schema()}},
            }
        },
    )
    async def create_token(request: Request) -> JSONResponse:
        """A new token with a role; the answer is the only time its secret is shown."""
        name, role = _token_body(await read_json_body(request))
        created = await access.create_token(name, role, _caller(request))
        return JSONResponse(token_json(created.token) | {"token": created.secret}, status_code=201)

    @router.delete(
        "/jobclock/tokens/{name}",
        operation_id="Tokens_Revoke",
        responses={200: {"model": TokenInfo}},
    )
    async def revoke_token(name: str) -> JSONResponse:
        """Revoke a token: every request and portal session with it is refused from now on."""
        return JSONResponse(token_json(await access.revoke_token(name)))

    @router.get("/jobclock/audit", operation_id="Audit_List", responses={200: {"model": AuditList}})
    async def audit(
        request: Request,
        top: Annotated[int, Query(alias="$top", ge=1, le=AUDIT_PAGE)] = AUDIT_PAGE,
        skip_token: Annotated[str | None, Query(alias="$skipToken")] = None,
        identity: Annotated[str | None, Query()] = None,
    ) -> JSONResponse:
        """Every write, newest first: who, through which surface, what, when, the outcome."""
        before = None
        if skip_token is not None:
            if not skip_token.isdigit() or len(skip_token) > 18:
                raise InvalidDefinition(
                    "$skipToken is not one this server gave.", field="$skipToken"
                )
            before = int(skip_token)
        entries = await access.audit_page(before_id=before, top=top, identity=identity)
        body: dict[str, Any] = {"value": [audit_json(entry) for entry in entries]}
        if len(entries) == top and entries[-1].id is not None:
            params = {"$top": str(top), "$skipToken": str(entries[-1].id)}
            if identity is not None:
                params["identity"] = identity
            body["nextLink"] = str(request.url.include_query_params(**params))
        return JSONResponse(body)

    return router
