"""The access rule of every route, for the route map's tests and docs.

Views declare theirs with the decorators of api/auth.py. The routes whose view functions Flask
or APIFlask provide, and the console's (which signs in with its own session), are declared here.
"""

from __future__ import annotations

from flask import Flask

from api.auth import ACCESS_ATTRIBUTE, AccessRule

PUBLIC = AccessRule("public")
CONSOLE = AccessRule("console")
_BUILT_IN = {
    "static": PUBLIC,
    "openapi.spec": PUBLIC,
    "openapi.docs": PUBLIC,
    "openapi.swagger_ui_oauth_redirect": PUBLIC,
}
_BLUEPRINTS = {"console": CONSOLE}


def access_rule(app: Flask, endpoint: str) -> AccessRule | None:
    """The declared rule of an endpoint, or None if it declares none (a test fails on that)."""
    if endpoint in _BUILT_IN:
        return _BUILT_IN[endpoint]
    blueprint = endpoint.rpartition(".")[0]
    if blueprint in _BLUEPRINTS:
        return _BLUEPRINTS[blueprint]
    rule = getattr(app.view_functions.get(endpoint), ACCESS_ATTRIBUTE, None)
    return rule if isinstance(rule, AccessRule) else None
