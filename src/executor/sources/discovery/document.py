"""Reading a Google Discovery document: parse, check, and find its base URL and auth methods.

Only REST descriptions (``discoveryVersion: v1``, ``kind: discovery#restDescription``) are
read. Anything else is refused with one :class:`SpecError` line that says what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from executor.errors import SpecError
from executor.models import AuthMethod

#: Google's OAuth 2 endpoints (the same for every Google API).
GOOGLE_AUTHORIZATION_URL = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class ServiceLocation:
    """Where an API lives: ``root_url`` (``https://gmail.googleapis.com/``) and the
    ``service_path`` method paths are relative to (``gmail/v1/`` or empty)."""

    root_url: str
    service_path: str


def parse_discovery(data: bytes, *, location: str | None = None) -> dict[str, Any]:
    """Parse and check a Discovery document; raise :class:`SpecError` with one line if it is
    not valid JSON, not a REST description, or describes no methods."""
    where = location or "The document"
    text = data.removeprefix(b"\xef\xbb\xbf")
    if not text.strip():
        raise SpecError(f"{where} is empty.", hint="Give a Google Discovery document (JSON).")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        reason = (
            "it ends early: the document is truncated"
            if exc.pos >= len(text.rstrip())
            else f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        )
        raise SpecError(
            f"{where} is not valid JSON ({reason}).",
            hint="Discovery documents are JSON; check that the whole document was downloaded.",
        ) from None
    if not isinstance(document, dict):
        raise SpecError(
            f"{where} is not a Discovery document: it is a {type(document).__name__}, "
            "not an object.",
            hint="Give the API's REST description, e.g. .../discovery/v1/apis/gmail/v1/rest.",
        )
    version = document.get("discoveryVersion")
    if version is None:
        raise SpecError(
            f"{where} is not a Discovery document: it has no 'discoveryVersion'.",
            hint="Give the API's REST description, e.g. .../discovery/v1/apis/gmail/v1/rest.",
        )
    if version != "v1":
        raise SpecError(
            f"Discovery version {version!r} is not supported.",
            hint="Executor reads Discovery v1 REST descriptions.",
        )
    kind = document.get("kind", "discovery#restDescription")
    if kind != "discovery#restDescription":
        raise SpecError(
            f"{where} is a {kind!r}, not an API's REST description.",
            hint="Give one API's document (its discoveryRestUrl), not the directory of APIs.",
        )
    protocol = document.get("protocol", "rest")
    if protocol != "rest":
        raise SpecError(
            f"Discovery protocol {protocol!r} is not supported.",
            hint="Executor reads REST descriptions ('protocol': 'rest').",
        )
    if not isinstance(document.get("resources"), dict) and not isinstance(
        document.get("methods"), dict
    ):
        raise SpecError(
            f"{where} has neither 'resources' nor 'methods': it describes nothing to call.",
            hint="Check that this is the full REST description of the API.",
        )
    return document


def service_location(document: dict[str, Any], *, has_base_url: bool) -> ServiceLocation:
    """The document's root URL and service path.

    Old documents without ``rootUrl`` give ``baseUrl`` (root + service path) instead. With
    neither, a ``base_url`` must be configured (``has_base_url``); else :class:`SpecError`.
    """
    root = document.get("rootUrl")
    service_path = document.get("servicePath")
    service_path = service_path if isinstance(service_path, str) else ""
    if isinstance(root, str) and root.startswith(("http://", "https://")):
        return ServiceLocation(root, service_path)
    base = document.get("baseUrl")
    if isinstance(base, str) and base.startswith(("http://", "https://")):
        if service_path and base.endswith(service_path):
            return ServiceLocation(base[: len(base) - len(service_path)], service_path)
        return ServiceLocation(base, "")
    if has_base_url:
        return ServiceLocation("", service_path)
    raise SpecError(
        "The Discovery document has no 'rootUrl' (or 'baseUrl'), so calls have nowhere to go.",
        hint="Set base_url to the API's root URL, such as https://gmail.googleapis.com/.",
    )


def auth_methods(document: dict[str, Any]) -> list[AuthMethod]:
    """Google OAuth 2 (with the document's scopes in ``extras``) and, where the API takes
    one, an API key in the ``key`` query parameter. A document without ``auth`` has none."""
    auth = document.get("auth")
    oauth = auth.get("oauth2") if isinstance(auth, dict) else None
    if not isinstance(oauth, dict):
        return []
    raw_scopes = oauth.get("scopes")
    scopes = {
        str(scope): str(info.get("description") or "") if isinstance(info, dict) else ""
        for scope, info in (raw_scopes.items() if isinstance(raw_scopes, dict) else ())
    }
    methods = [
        AuthMethod(
            "oauth2",
            "oauth2",
            description="Google OAuth 2.0 (a bearer access token works until the flow lands).",
            extras={
                "provider": "google",
                "scopes": scopes,
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": GOOGLE_AUTHORIZATION_URL,
                        "tokenUrl": GOOGLE_TOKEN_URL,
                        "scopes": scopes,
                    }
                },
            },
        )
    ]
    parameters = document.get("parameters")
    key = parameters.get("key") if isinstance(parameters, dict) else None
    if isinstance(key, dict) and key.get("location") == "query":
        methods.append(
            AuthMethod(
                "api_key",
                "api_key",
                location="query",
                name="key",
                description="A Google API key (only for methods that allow one).",
            )
        )
    return methods


__all__ = [
    "GOOGLE_AUTHORIZATION_URL",
    "GOOGLE_TOKEN_URL",
    "ServiceLocation",
    "auth_methods",
    "parse_discovery",
    "service_location",
]
