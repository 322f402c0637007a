"""The Google Discovery source plugin: Gmail, Drive, Calendar and every API Google describes
with a Discovery REST description (``discoveryVersion: v1``).

Importing (``loader.py``, ``methods.py``, ``schemas.py``) turns a document into tools, auth
methods and per-tool call bindings; calling (``request.py``) carries out one method over HTTP
with the OpenAPI plugin's wire machinery.
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
from executor.sources.discovery.request import call_method

_VERSION_KEY = re.compile(r'"discoveryVersion"\s*:')
_REST_KIND = re.compile(r""""kind"\s*:\s*"discovery#restDescription\"""")
_URL_HINT = re.compile(r"/discovery/v1/apis/[^/]+/[^/]+/rest|/\$discovery/rest", re.IGNORECASE)
_SNIFF_CHARS = 64 * 1024


class DiscoveryPlugin:
    """Source plugin of kind ``discovery``."""

    kind: ClassVar[str] = "discovery"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """Recognise a Discovery document by its ``discoveryVersion`` key (confidence 0.95) or
        its ``kind: discovery#restDescription`` (0.9); a URL shaped like a Discovery document's
        gives 0.4. Only the first 64 KiB are looked at."""
        head = text[:_SNIFF_CHARS]
        if _VERSION_KEY.search(head):
            return Detection(self.kind, 0.95, "Google Discovery document (discoveryVersion)")
        if _REST_KIND.search(head):
            return Detection(self.kind, 0.9, "Google Discovery REST description")
        if url and _URL_HINT.search(url):
            return Detection(self.kind, 0.4, "the URL looks like a Google Discovery document's")
        return None

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Read the document and build one tool per method (see ``loader.load_discovery``)."""
        # Imported here: a process that only calls tools never pays for the import machinery.
        from executor.sources.discovery.loader import load_discovery

        return await load_discovery(config, fetch_policy=fetch_policy, progress=progress)

    async def call(self, request: PluginCall) -> ToolResult:
        """Carry out one method over HTTP (implemented in ``request.py``)."""
        return await call_method(request)


__all__ = ["DiscoveryPlugin"]
