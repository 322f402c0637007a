"""The built-in auth schemes: none, API key, bearer token, basic, custom headers."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from executor.auth.base import (
    ResolvedAuth,
    check_header_value,
    ordered_secrets,
    resolve_field,
    to_pointer,
)
from executor.errors import InvalidInputError, SecretError
from executor.models import AuthMethod
from executor.secrets import SecretResolver
from executor.sources.base import AppliedAuth

API_KEY_LOCATIONS = ("header", "query", "cookie")

# RFC 9110 token characters: what a header or cookie name may contain.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_keys(
    config: Mapping[str, Any], kind: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    allowed = {"type", *required, *optional}
    unknown = sorted(str(key) for key in config if key not in allowed)
    if unknown:
        fields = ", ".join(sorted(allowed - {"type"})) or "none besides 'type'"
        raise InvalidInputError(
            f"{kind} auth does not take {', '.join(map(repr, unknown))}.",
            hint=f"Its fields are: {fields}.",
        )
    for key in required:
        if key not in config:
            raise InvalidInputError(
                f"{kind} auth needs {key!r}.",
                hint="Give the value or a secret reference such as 'secret://name'.",
            )


def _text(config: Mapping[str, Any], kind: str, key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            f"{kind} auth field {key!r} must be a non-empty string.",
            hint="Give the value or a secret reference such as 'secret://name'.",
        )
    return value


def _check_name(name: Any, location: str, kind: str = "api_key") -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"{kind} auth field 'name' must be a non-empty string.",
            hint="It is the header, query parameter or cookie name the key goes in.",
        )
    valid = _TOKEN.match(name) if location in ("header", "cookie") else not _CONTROL.search(name)
    if not valid:
        raise InvalidInputError(
            f"{name!r} is not a valid {location} name.",
            hint="Use letters, digits and - _ . only.",
        )
    return name


def _pick_method(
    method_id: Any, methods: Sequence[AuthMethod], kind: str, accepted: tuple[str, ...]
) -> AuthMethod | None:
    """The integration's auth method named by ``method_id`` (None when not given)."""
    if method_id is None:
        return None
    fitting = [method for method in methods if method.type in accepted]
    for method in methods:
        if method.id == method_id:
            if method.type not in accepted:
                raise InvalidInputError(
                    f"Auth method {method_id!r} is {method.type}, not {kind}.",
                    hint=f"Use auth type {method.type!r}, or another method.",
                )
            return method
    choices = ", ".join(repr(method.id) for method in fitting) or "none"
    raise InvalidInputError(
        f"This integration has no {kind} auth method {method_id!r}.",
        hint=f"Its {kind} methods: {choices}.",
    )


class NoAuth:
    """``{"type": "none"}``: nothing is added to the request."""

    type = "none"

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        _check_keys(config, self.type, (), ())
        return {"type": self.type}

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {}

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        return ResolvedAuth(AppliedAuth())


class ApiKeyAuth:
    """An API key in a header, a query parameter or a cookie.

    ``location`` and ``name`` come from the integration's matching API key method unless the
    config gives them; the stored config always has both, so applying needs no spec.
    """

    type = "api_key"

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        _check_keys(config, self.type, ("value",), ("method", "location", "name"))
        value = _text(config, self.type, "value")
        location = config.get("location")
        if location is not None and location not in API_KEY_LOCATIONS:
            raise InvalidInputError(
                f"API key location {location!r} is not supported.",
                hint=f"Use one of: {', '.join(API_KEY_LOCATIONS)}.",
            )
        name = config.get("name")
        method = _pick_method(config.get("method"), methods, self.type, ("api_key",))
        if method is None:
            method = self._match_method(location, name, methods)
        if method is not None:
            location = location or method.location
            name = name or method.name
        if location is None or name is None:
            raise InvalidInputError(
                "API key auth needs to know where the key goes.",
                hint="Give 'location' (header, query or cookie) and 'name', "
                "e.g. {'location': 'header', 'name': 'X-API-Key'}.",
            )
        stored: dict[str, Any] = {"type": self.type}
        if method is not None:
            stored["method"] = method.id
        stored.update(value=value, location=location, name=_check_name(name, location))
        return stored

    @staticmethod
    def _match_method(
        location: str | None, name: Any, methods: Sequence[AuthMethod]
    ) -> AuthMethod | None:
        """The one API key method the config means; a given ``name`` only breaks ties."""
        candidates = [
            method
            for method in methods
            if method.type == "api_key" and (location is None or method.location == location)
        ]
        if len(candidates) > 1 and name is not None:
            named = [m for m in candidates if (m.name or "").lower() == str(name).lower()]
            candidates = named or candidates
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1 and (location is None or name is None):
            choices = ", ".join(repr(method.id) for method in candidates)
            raise InvalidInputError(
                "This integration has several API key methods; say which one.",
                hint=f"Add 'method' with one of: {choices}.",
            )
        return None

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {to_pointer("value"): config["value"]} if "value" in config else {}

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        name, location = config.get("name"), config.get("location")
        if not isinstance(name, str) or not name or location not in API_KEY_LOCATIONS:
            raise InvalidInputError(
                "The stored api_key auth config lacks its 'location' or 'name'.",
                hint="Set the connection's credentials again.",
            )
        value = await resolve_field(config, "/value", config.get("value"), resolver)
        if location == "query":
            return ResolvedAuth(AppliedAuth(query={name: value}), ordered_secrets([value]))
        check_header_value(value, "/value")
        if location == "cookie":
            if any(char in value for char in ';," \\'):
                raise SecretError(
                    "The API key contains characters a cookie cannot carry.",
                    hint="Send it in a header or query parameter instead.",
                    details={"field": "/value"},
                )
            return ResolvedAuth(AppliedAuth(cookies={name: value}), ordered_secrets([value]))
        return ResolvedAuth(AppliedAuth(headers={name: value}), ordered_secrets([value]))


class BearerAuth:
    """``Authorization: Bearer <token>``; also stands in for OAuth 2 until its flows exist."""

    type = "bearer"

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        _check_keys(config, self.type, ("token",), ("method",))
        token = _text(config, self.type, "token")
        method = _pick_method(config.get("method"), methods, self.type, ("bearer", "oauth2"))
        stored: dict[str, Any] = {"type": self.type}
        if method is not None:
            stored["method"] = method.id
        stored["token"] = token
        return stored

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {to_pointer("token"): config["token"]} if "token" in config else {}

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        token = await resolve_field(config, "/token", config.get("token"), resolver)
        header = f"Bearer {check_header_value(token, '/token')}"
        return ResolvedAuth(
            AppliedAuth(headers={"Authorization": header}), ordered_secrets([token, header])
        )


class BasicAuth:
    """``Authorization: Basic base64(username:password)``; the username may be plain text."""

    type = "basic"

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        _check_keys(config, self.type, ("username", "password"), ("method",))
        username = _text(config, self.type, "username")
        password = _text(config, self.type, "password")
        if ":" in username and "://" not in username:
            raise InvalidInputError(
                "A basic auth username cannot contain ':'.",
                hint="Check that the username and password were not swapped or joined.",
            )
        method = _pick_method(config.get("method"), methods, self.type, ("basic",))
        stored: dict[str, Any] = {"type": self.type}
        if method is not None:
            stored["method"] = method.id
        stored.update(username=username, password=password)
        return stored

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {to_pointer("password"): config["password"]} if "password" in config else {}

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        username = config.get("username")
        if not isinstance(username, str) or not username:
            raise SecretError("The basic auth config has no username.", hint="Set it again.")
        if resolver.is_reference(username):
            username = await resolver.resolve(username)
        if ":" in username:
            raise SecretError(
                "The basic auth username contains ':', which basic auth cannot carry.",
                hint="Store the username again without ':'.",
                details={"field": "/username"},
            )
        password = await resolve_field(config, "/password", config.get("password"), resolver)
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        header = f"Basic {token}"
        return ResolvedAuth(
            AppliedAuth(headers={"Authorization": header}),
            # The username is not a secret by itself: redacting it would mangle ordinary data.
            ordered_secrets([password, token, header]),
        )


class CustomHeadersAuth:
    """Several headers whose values are all secrets (``X-App-Id`` + ``X-App-Key``, …)."""

    type = "custom_headers"

    def normalize(self, config: Mapping[str, Any], methods: Sequence[AuthMethod]) -> dict[str, Any]:
        _check_keys(config, self.type, ("headers",), ())
        headers = config["headers"]
        if not isinstance(headers, Mapping) or not headers:
            raise InvalidInputError(
                "custom_headers auth needs 'headers': an object of header name → value.",
                hint="For example {'X-App-Id': 'secret://app-id', 'X-App-Key': 'secret://key'}.",
            )
        seen: set[str] = set()
        stored: dict[str, str] = {}
        for name, value in headers.items():
            _check_name(name, "header", self.type)
            if name.lower() in seen:
                raise InvalidInputError(
                    f"Header {name!r} is given twice.", hint="Header names ignore case."
                )
            seen.add(name.lower())
            if not isinstance(value, str) or not value:
                raise InvalidInputError(
                    f"Header {name!r} needs a non-empty string value.",
                    hint="Give the value or a secret reference such as 'secret://name'.",
                )
            stored[name] = value
        return {"type": self.type, "headers": stored}

    def secret_fields(self, config: Mapping[str, Any]) -> dict[str, str]:
        headers = config.get("headers")
        if not isinstance(headers, Mapping):
            return {}
        return {to_pointer("headers", name): value for name, value in headers.items()}

    async def apply(self, config: Mapping[str, Any], resolver: SecretResolver) -> ResolvedAuth:
        headers: dict[str, str] = {}
        for name, reference in dict(config.get("headers") or {}).items():
            pointer = to_pointer("headers", name)
            value = await resolve_field(config, pointer, reference, resolver)
            headers[name] = check_header_value(value, pointer)
        return ResolvedAuth(AppliedAuth(headers=headers), ordered_secrets(headers.values()))
