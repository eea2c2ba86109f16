"""Who is calling: the admin token, an organization's API key, or a service key, from
`Authorization: Bearer`.

- The admin token (ADMIN_TOKEN) may call everything. Unset or empty, admin access is disabled.
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
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

from flask import g, request

from api.errors import api_error
from api.limits import count_failure, limit_identity, refuse_blocked_address
from api.runtime import now, read, runtime, write
from billing_core.access.api_keys import authenticate_key, key_prefix, record_key_use
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


@dataclass(frozen=True)
class Principal:
    admin: bool
    organization_id: str | None = None
    api_access: str | None = None
    key_id: int | None = None
    key_prefix: str | None = None  # the public part of the API key (its budgets apply to its calls)
    service: ServiceIdentity | None = None

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
        principal, identity = Principal(admin=True), "admin"
    elif is_service_key(token):
        service = _service_identity(token)
        principal, identity = Principal(False, service=service), f"service:{service.key_id}"
    else:
        at = now()
        found = read(lambda c: authenticate_key(c, token, at))
        if found is None:
            _refuse_token()
        if found.needs_touch:
            write(lambda c: record_key_use(c, found.key_id, at))
        principal = Principal(False, found.organization_id, found.api_access, found.key_id, key_prefix(token))
        identity = f"key:{found.key_id}"
    limit_identity(identity)
    g.principal = principal
    return principal


def _refuse_token() -> NoReturn:
    count_failure()
    raise api_error(401, "unauthorized", "the token is not valid or has been revoked", headers=_CHALLENGE)


def _service_identity(token: str) -> ServiceIdentity:
    at = now()
    identity = read(lambda c: authenticate_service_key(c, token, at))
    if identity is None:
        _refuse_token()
    if identity.needs_touch:
        write(lambda c: record_service_key_use(c, identity.key_id, at))
    return identity


def _require_scope(service: ServiceIdentity, scope: str | None) -> None:
    if scope is None or scope not in service.scopes:
        scopes = ", ".join(sorted(service.scopes))
        raise api_error(403, "forbidden", f"this endpoint is not open to a service key with scopes {scopes}")


def _describe(view: Callable[..., Any], rule: str) -> None:
    view.__doc__ = f"{(view.__doc__ or '').strip()}\n\nAccess: {rule}."


def organization_access(level: str, *, service_scope: str | None = None) -> Callable[[F], F]:
    """The admin, or a key of the organization in the path whose plan's access includes `level`,
    or a service key with `service_scope` for that organization (None: no service key)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            org = kwargs.get("org")
            if principal.service is not None:
                _require_scope(principal.service, service_scope)
                if not principal.service.may_act_for(str(org)):
                    raise api_error(404, "not_found", f"unknown organization {org!r}")
            elif not principal.admin:
                if principal.organization_id != org:
                    raise api_error(404, "not_found", f"unknown organization {org!r}")
                if not access_allows(principal.api_access or "", level):
                    raise api_error(
                        403,
                        "forbidden",
                        f"this endpoint needs API access {level!r}; the organization's plan gives "
                        f"{principal.api_access!r}",
                    )
            return view(*args, **kwargs)

        services = f", or a service key with the `{service_scope}` scope" if service_scope else ""
        _describe(
            wrapper,
            f"the admin token, or an API key of this organization with `{level}` access or more{services}",
        )
        return cast(F, wrapper)

    return decorator


def level_access(level: str, *, service_scope: str | None = None) -> Callable[[F], F]:
    """The admin, or any key whose plan's access includes `level`, or a service key with
    `service_scope` (for endpoints with no organization)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if principal.service is not None:
                _require_scope(principal.service, service_scope)
            elif not principal.admin and not access_allows(principal.api_access or "", level):
                raise api_error(403, "forbidden", f"this endpoint needs API access {level!r}")
            return view(*args, **kwargs)

        services = f", or a service key with the `{service_scope}` scope" if service_scope else ""
        _describe(wrapper, f"the admin token, or an API key with `{level}` access{services}")
        return cast(F, wrapper)

    return decorator


def admin_only(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not authenticate().admin:
            raise api_error(403, "forbidden", "this endpoint needs the admin token")
        return view(*args, **kwargs)

    _describe(wrapper, "the admin token only")
    return cast(F, wrapper)


def ingest_access(view: F) -> F:
    """The admin, any organization API key (for its own organization's events), or a service key
    with the `ingest` scope. Which events a caller may report is checked per event
    (Principal.may_ingest_for)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = authenticate()
        if principal.service is not None:
            _require_scope(principal.service, INGEST)
        return view(*args, **kwargs)

    _describe(
        wrapper,
        "the admin token, an organization's API key (its own events), or a service key with the "
        "`ingest` scope (the organizations it may act for)",
    )
    return cast(F, wrapper)
