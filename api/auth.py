"""Who is calling: the admin token, an admin key, an organization's API key, or a service key,
from `Authorization: Bearer`; and the access rule every route declares.

- The admin token (ADMIN_TOKEN) is the break-glass owner: it may call everything, and acts as
  `admin-token` in the audit log. Unset or empty, it is disabled (admin keys still work).
- An admin key (`bk_adm_...`) may call what its role allows (billing_core/access/roles.py): each
  admin-reachable endpoint declares the role it needs; a key without it gets 403.
- An API key may call only its own organization's endpoints, as far as its plan's API access
  level allows (basic < full < enterprise). A key asking about another organization gets 404,
  exactly as if that organization did not exist, so keys cannot probe for other organizations.
- A service key (`bk_svc_...`) may call what its scopes allow: `ingest` the event ingestion,
  `read` the organization read endpoints, for the organizations of its allow-list (others: 404),
  or all if it has none. It never reaches an admin endpoint.
- Missing, unknown or revoked tokens get 401; a known caller without the right gets 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, NoReturn, Protocol, TypeVar, cast

from flask import g, request
from sqlalchemy import Connection

from api.errors import api_error
from api.limits import count_failure, limit_identity, refuse_blocked_address
from api.runtime import now, read, runtime, write
from billing_core.access.admin_keys import authenticate_admin_key, is_admin_key, record_admin_key_use
from billing_core.access.api_keys import authenticate_key, key_prefix, record_key_use
from billing_core.access.roles import OWNER, role_allows
from billing_core.access.service_keys import (
    INGEST,
    ServiceIdentity,
    authenticate_service_key,
    is_service_key,
    record_service_key_use,
)
from billing_core.plans.plans import access_allows

F = TypeVar("F", bound=Callable[..., Any])
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="billing"'}
ADMIN_TOKEN_ACTOR = "admin-token"
ACCESS_ATTRIBUTE = "access_rule"


@dataclass(frozen=True)
class AccessRule:
    """Who may call a route: kind is public, console, admin, organization, level or ingest;
    `admin_role` is what an admin key needs (None: no admin key reaches it)."""

    kind: str
    admin_role: str | None = None
    level: str | None = None
    service_scope: str | None = None


@dataclass(frozen=True)
class AdminIdentity:
    """An admin caller: a named admin key, or the admin token (key_id None, role owner)."""

    name: str
    role: str
    key_id: int | None = None


@dataclass(frozen=True)
class Principal:
    admin: bool
    organization_id: str | None = None
    api_access: str | None = None
    key_id: int | None = None
    key_prefix: str | None = None  # the public part of the API key (its budgets apply to its calls)
    service: ServiceIdentity | None = None
    admin_identity: AdminIdentity | None = None

    def may_ingest_for(self, organization_id: str) -> bool:
        """Whether events of this organization may be reported by this caller."""
        if self.admin:
            return True
        if self.service is not None:
            return self.service.may_act_for(organization_id)
        return self.organization_id == organization_id


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise api_error(
            401, "unauthorized", "an `Authorization: Bearer <token>` header is required", headers=_CHALLENGE
        )
    return token


def _is_admin(token: str) -> bool:
    configured = runtime().settings.admin_token
    secret = configured.get_secret_value() if configured is not None else ""
    return bool(secret) and hmac.compare_digest(token.encode(), secret.encode())


def authenticate() -> Principal:
    """The caller of the current request; raises 401 or 429. An address with too many failed
    authentications is refused before any database work; a caller's bucket is keyed by who it is."""
    refuse_blocked_address()
    token = _bearer_token()
    if _is_admin(token):
        principal = Principal(admin=True, admin_identity=AdminIdentity(ADMIN_TOKEN_ACTOR, OWNER))
        identity = "admin"
    elif is_admin_key(token):
        admin = _known(token, authenticate_admin_key, record_admin_key_use)
        principal = Principal(True, admin_identity=AdminIdentity(admin.name, admin.role, admin.key_id))
        identity = f"admin_key:{admin.key_id}"
    elif is_service_key(token):
        service = _known(token, authenticate_service_key, record_service_key_use)
        principal, identity = Principal(False, service=service), f"service:{service.key_id}"
    else:
        found = _known(token, authenticate_key, record_key_use)
        principal = Principal(False, found.organization_id, found.api_access, found.key_id, key_prefix(token))
        identity = f"key:{found.key_id}"
    limit_identity(identity)
    g.principal = principal
    return principal


class _KnownKey(Protocol):
    """What every key's identity tells (API, service and admin keys)."""

    @property
    def key_id(self) -> int: ...

    @property
    def needs_touch(self) -> bool: ...


K = TypeVar("K", bound=_KnownKey)


def _known(
    token: str,
    find: Callable[[Connection, str, datetime], K | None],
    touch: Callable[[Connection, int, datetime], None],
) -> K:
    """The live key a token names (401 otherwise); its last use is written at most once a minute."""
    at = now()
    found = read(lambda c: find(c, token, at))
    if found is None:
        _refuse_token()
    if found.needs_touch:
        write(lambda c: touch(c, found.key_id, at))
    return found


def _require_admin_role(principal: Principal, role: str | None) -> None:
    """403 unless the admin caller's role allows `role` (None: no admin may call)."""
    admin = principal.admin_identity
    if admin is None or role is None or not role_allows(admin.role, role):
        held = f"; admin key {admin.name!r} has role {admin.role!r}" if admin else ""
        raise api_error(403, "forbidden", f"this endpoint needs the admin role {role!r}{held}")


def _refuse_token() -> NoReturn:
    count_failure()
    raise api_error(401, "unauthorized", "the token is not valid or has been revoked", headers=_CHALLENGE)


def _require_scope(service: ServiceIdentity, scope: str | None) -> None:
    if scope is None or scope not in service.scopes:
        scopes = ", ".join(sorted(service.scopes))
        raise api_error(403, "forbidden", f"this endpoint is not open to a service key with scopes {scopes}")


def _describe(view: Callable[..., Any], rule: str, access: AccessRule) -> None:
    view.__doc__ = f"{(view.__doc__ or '').strip()}\n\nAccess: {rule}."
    setattr(view, ACCESS_ATTRIBUTE, access)


def _admins(role: str) -> str:
    return f"an admin key with role `{role}` (or the admin token)"


def _guarded(
    check: Callable[[Principal, dict[str, Any]], None], rule: str, access: AccessRule
) -> Callable[[F], F]:
    """A view that authenticates its caller and runs `check(principal, path arguments)` (which raises
    401/403/404) first; `rule` is the access said in its documentation, `access` the declared rule."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(authenticate(), kwargs)
            return view(*args, **kwargs)

        _describe(wrapper, rule, access)
        return cast(F, wrapper)

    return decorator


def _services(scope: str | None) -> str:
    return f", or a service key with the `{scope}` scope" if scope else ""


def organization_access(level: str, *, admin: str, service_scope: str | None = None) -> Callable[[F], F]:
    """An admin whose role allows `admin`, or a key of the organization in the path whose plan's
    access includes `level`, or a service key with `service_scope` for that organization (None:
    no service key)."""

    def check(principal: Principal, path: dict[str, Any]) -> None:
        org = path.get("org")
        if principal.service is not None:
            _require_scope(principal.service, service_scope)
            if not principal.service.may_act_for(str(org)):
                raise api_error(404, "not_found", f"unknown organization {org!r}")
        elif principal.admin:
            _require_admin_role(principal, admin)
        else:
            if principal.organization_id != org:
                raise api_error(404, "not_found", f"unknown organization {org!r}")
            if not access_allows(principal.api_access or "", level):
                raise api_error(
                    403,
                    "forbidden",
                    f"this endpoint needs API access {level!r}; the organization's plan gives "
                    f"{principal.api_access!r}",
                )

    return _guarded(
        check,
        f"{_admins(admin)}, or an API key of this organization with `{level}` access or more"
        f"{_services(service_scope)}",
        AccessRule("organization", admin, level, service_scope),
    )


def level_access(level: str, *, admin: str, service_scope: str | None = None) -> Callable[[F], F]:
    """An admin whose role allows `admin`, or any key whose plan's access includes `level`, or a
    service key with `service_scope` (for endpoints with no organization)."""

    def check(principal: Principal, path: dict[str, Any]) -> None:
        if principal.service is not None:
            _require_scope(principal.service, service_scope)
        elif principal.admin:
            _require_admin_role(principal, admin)
        elif not access_allows(principal.api_access or "", level):
            raise api_error(403, "forbidden", f"this endpoint needs API access {level!r}")

    return _guarded(
        check,
        f"{_admins(admin)}, or an API key with `{level}` access{_services(service_scope)}",
        AccessRule("level", admin, level, service_scope),
    )


def admin_required(role: str) -> Callable[[F], F]:
    """Admins only: an admin key whose role allows `role`, or the admin token."""

    def check(principal: Principal, path: dict[str, Any]) -> None:
        if not principal.admin:
            raise api_error(403, "forbidden", "this endpoint needs an admin key or the admin token")
        _require_admin_role(principal, role)

    return _guarded(check, f"{_admins(role)} only", AccessRule("admin", role))


def ingest_access(admin: str) -> Callable[[F], F]:
    """An admin whose role allows `admin`, any organization API key (for its own organization's
    events), or a service key with the `ingest` scope. Which events a caller may report is
    checked per event (Principal.may_ingest_for)."""

    def check(principal: Principal, path: dict[str, Any]) -> None:
        if principal.service is not None:
            _require_scope(principal.service, INGEST)
        elif principal.admin:
            _require_admin_role(principal, admin)

    return _guarded(
        check,
        f"{_admins(admin)}, an organization's API key (its own events), or a service key with "
        "the `ingest` scope (the organizations it may act for)",
        AccessRule("ingest", admin, service_scope=INGEST),
    )


def public(view: F) -> F:
    """Declares a route open to anyone (health, documentation)."""
    setattr(view, ACCESS_ATTRIBUTE, AccessRule("public"))
    return view
