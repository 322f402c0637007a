"""Auth methods from OpenAPI security schemes, and per-operation security requirements.

OpenAPI 3 ``components.securitySchemes`` and Swagger 2.0 ``securityDefinitions`` map onto
:class:`~executor.models.AuthMethod`: ``apiKey`` → ``api_key`` (header, query or cookie),
``http`` bearer → ``bearer``, ``http`` basic / Swagger ``basic`` → ``basic``, ``oauth2`` and
``openIdConnect`` → ``oauth2`` with flows and scopes (or the discovery URL) in ``extras``.
Schemes Executor cannot use (mutual TLS, HTTP digest, …) are skipped with a warning.
"""

from __future__ import annotations

from typing import Any

from executor.addresses import to_identifier
from executor.models import AuthMethod
from executor.sources.openapi.refs import RefResolver

#: Swagger 2.0 OAuth flow names → their OpenAPI 3 names.
_SWAGGER_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}
_API_KEY_LOCATIONS = ("header", "query", "cookie")


def auth_methods(
    document: dict[str, Any], resolver: RefResolver, warnings: list[str]
) -> list[AuthMethod]:
    """The auth methods a spec declares, in declaration order."""
    if "swagger" in document:
        schemes = document.get("securityDefinitions")
    else:
        schemes = (document.get("components") or {}).get("securitySchemes")
    if not isinstance(schemes, dict):
        return []
    methods: list[AuthMethod] = []
    for name, raw in schemes.items():
        scheme, _base = resolver.deref(raw, resolver.root_location)
        if not isinstance(scheme, dict):
            continue
        method = _auth_method(to_identifier(name, fallback="auth"), scheme)
        if method is None:
            warnings.append(
                f"Security scheme {name!r} ({scheme.get('type')}) is not supported and was skipped."
            )
        else:
            methods.append(method)
    return methods


def _auth_method(method_id: str, scheme: dict[str, Any]) -> AuthMethod | None:
    kind = scheme.get("type")
    description = str(scheme.get("description") or "")
    if kind == "apiKey":
        location = scheme.get("in")
        name = scheme.get("name")
        if location not in _API_KEY_LOCATIONS or not isinstance(name, str) or not name:
            return None
        return AuthMethod(
            method_id, "api_key", location=location, name=name, description=description
        )
    if kind == "basic":
        return AuthMethod(method_id, "basic", description=description)
    if kind == "http":
        http_scheme = str(scheme.get("scheme") or "").lower()
        if http_scheme == "bearer":
            extras = {"bearer_format": scheme["bearerFormat"]} if "bearerFormat" in scheme else {}
            return AuthMethod(method_id, "bearer", description=description, extras=extras)
        if http_scheme == "basic":
            return AuthMethod(method_id, "basic", description=description)
        return None
    if kind == "oauth2":
        return AuthMethod(
            method_id, "oauth2", description=description, extras={"flows": _oauth_flows(scheme)}
        )
    if kind == "openIdConnect":
        extras = {"openid_connect_url": scheme.get("openIdConnectUrl"), "flows": {}}
        return AuthMethod(method_id, "oauth2", description=description, extras=extras)
    return None


def _oauth_flows(scheme: dict[str, Any]) -> dict[str, Any]:
    if isinstance(scheme.get("flows"), dict):
        raw_flows = scheme["flows"]
    else:  # Swagger 2.0: one flow, described on the scheme itself
        flow_name = _SWAGGER_FLOWS.get(str(scheme.get("flow")), str(scheme.get("flow")))
        raw_flows = {flow_name: scheme}
    flows: dict[str, Any] = {}
    for name, flow in raw_flows.items():
        if not isinstance(flow, dict):
            continue
        flows[name] = {
            key: flow[key]
            for key in ("authorizationUrl", "tokenUrl", "refreshUrl")
            if isinstance(flow.get(key), str)
        }
        scopes = flow.get("scopes")
        flows[name]["scopes"] = dict(scopes) if isinstance(scopes, dict) else {}
    return flows


def security_requirements(requirements: Any, known: set[str]) -> list[list[str]] | None:
    """A ``security`` list as alternatives of auth-method ids (``[]`` inside = anonymous is ok).

    Returns None when ``requirements`` is absent (inherit the document's). Alternatives naming
    a scheme that is not declared (or not supported) are dropped.
    """
    if not isinstance(requirements, list):
        return None
    alternatives: list[list[str]] = []
    for requirement in requirements:
        if not isinstance(requirement, dict):
            continue
        ids = [to_identifier(name, fallback="auth") for name in requirement]
        if all(method_id in known for method_id in ids) and ids not in alternatives:
            alternatives.append(ids)
    return alternatives


__all__ = ["auth_methods", "security_requirements"]
