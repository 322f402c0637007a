"""The OpenAPI source plugin: Swagger 2.0, OpenAPI 3.0 and 3.1, in JSON or YAML.

Importing (this package) turns a spec into tools, auth methods and per-tool call bindings;
calling (``request.py``/``response.py``) carries out one operation over HTTP.
"""

from __future__ import annotations

import re
from typing import ClassVar

from executor.results import ToolResult
from executor.sources.base import (
    Detection,
    FetchPolicy,
    PluginCall,
    Progress,
    SourceBundle,
    SourceConfig,
)
from executor.sources.openapi.request import call_operation

_MARKER = re.compile(
    rb"""(?:^|[{,\s])["']?(openapi|swagger)["']?[ \t]*:[ \t]*["']?([0-9][0-9A-Za-z.-]*)""",
)
_SUPPORTED = re.compile(rb"2\.0\Z|3\.[01](\.|\Z|-)")
_URL_HINT = re.compile(r"(openapi|swagger)[^/]*\.(json|ya?ml)(\?|$)|/api-docs", re.IGNORECASE)
_SNIFF_BYTES = 64 * 1024


class OpenAPIPlugin:
    """Source plugin of kind ``openapi``."""

    kind: ClassVar[str] = "openapi"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """Recognise an OpenAPI/Swagger document by its ``openapi``/``swagger`` field.

        Only the first 64 KiB are looked at. A supported version gives confidence 0.95, an
        unsupported one 0.6 (loading will say why it fails); a URL that merely looks like a
        spec's gives 0.3.
        """
        head = text[:_SNIFF_BYTES].encode("utf-8", "replace")
        match = _MARKER.search(head)
        if match is not None:
            key, version = match.group(1).decode(), match.group(2).decode()
            label = "Swagger" if key == "swagger" else "OpenAPI"
            if _SUPPORTED.match(match.group(2)):
                return Detection(self.kind, 0.95, f"{label} {version} document")
            return Detection(self.kind, 0.6, f"{label} {version} document (unsupported version)")
        if url and _URL_HINT.search(url):
            return Detection(self.kind, 0.3, "the URL looks like an OpenAPI document's")
        return None

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Read the spec and build one tool per operation (see ``loader.load_openapi``)."""
        # Imported here: a process that only calls tools never pays for the parsing machinery.
        from executor.sources.openapi.loader import load_openapi

        return await load_openapi(config, fetch_policy=fetch_policy, progress=progress)

    async def call(self, request: PluginCall) -> ToolResult:
        """Carry out one operation over HTTP (implemented in ``request.py``)."""
        return await call_operation(request)


__all__ = ["OpenAPIPlugin"]
