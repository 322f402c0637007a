"""Source detection: which installed plugin can read what the user pasted (PRODUCT.md §2).

:func:`detect_source` takes a URL, a file path or a document's text. A URL is fetched once
(through the SSRF-guarded fetcher, under the executor's :class:`FetchPolicy`) and every plugin's
``detect(text, url=)`` judges the body; plugins that recognise a source only by talking to it
implement the optional ``probe(url, http=, timeout=)``, and those probes run concurrently with
the fetch, each within a bounded time. A plugin that fails is logged and left out: one broken
plugin never breaks detection. Candidates come back best first, one per kind.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2

from executor.errors import FetchError, InvalidInputError
from executor.sources.base import Detection, FetchPolicy, PluginRegistry, SourceConfig, SourcePlugin
from executor.sources.fetch import fetch_document, guarded_client

logger = logging.getLogger("executor.sources.detect")

#: Below this confidence a candidate is a guess: adding a source without a kind refuses it.
CONFIDENT = 0.5
#: A probe that answers with at least this confidence ends the wait for the document fetch
#: (an MCP endpoint, say, may hold a GET open as an event stream).
CERTAIN = 0.9
#: Seconds each probe may take, and each plugin's ``detect`` too.
PROBE_TIMEOUT = 5.0

Probe = Callable[..., Awaitable[Detection | None]]
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]*)\?[^\s'\"]*")


def source_config(
    source: str | Mapping[str, Any],
    *,
    base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> SourceConfig:
    """Tell a URL, a local file and inline text (or a parsed document) apart."""
    extra = dict(options or {})
    if isinstance(source, Mapping):
        return SourceConfig(text=json.dumps(source), base_url=base_url, options=extra)
    stripped = source.strip()
    if not stripped:
        raise InvalidInputError(
            "The source is empty.", hint="Pass a URL, a file path, or the document itself."
        )
    if stripped.startswith(("http://", "https://")) and "\n" not in stripped:
        return SourceConfig(url=stripped, base_url=base_url, options=extra)
    if "\n" not in stripped and not stripped.startswith(("{", "[")) and len(stripped) < 4096:
        path = Path(stripped).expanduser()
        if path.exists():
            return SourceConfig(path=str(path.resolve()), base_url=base_url, options=extra)
        if stripped.endswith((".json", ".yaml", ".yml")) or os.sep in stripped:
            raise InvalidInputError(
                f"File {stripped!r} does not exist.",
                hint="Pass a URL, an existing file path, or the document's text.",
            )
    return SourceConfig(text=source, base_url=base_url, options=extra)


def describe_candidates(candidates: list[Detection]) -> str:
    """``openapi (0.95: OpenAPI 3.0.3 document), …`` for error messages."""
    return ", ".join(
        f"{candidate.kind} ({candidate.confidence:.2f}: {candidate.reason})"
        for candidate in candidates
    )


async def detect_source(
    config: SourceConfig,
    *,
    plugins: PluginRegistry,
    fetch_policy: FetchPolicy,
    probe_timeout: float = PROBE_TIMEOUT,
) -> list[Detection]:
    """Rank the installed plugins' opinions of the document ``config`` names.

    Returns candidates sorted by confidence (highest first, then by kind), at most one per
    kind; an empty list when no plugin recognises the document. Raises :class:`FetchError`
    when a URL or file cannot be read and no probe recognised it either.
    """
    loaded = _plugins(plugins)
    found: list[Detection] = []
    text = config.text
    fetch_error: FetchError | None = None
    if config.path is not None:
        data, _ = await fetch_document(config.path, policy=fetch_policy)
        text = _decode(data)
    elif config.url is not None:
        text, fetch_error, probed = await _fetch_and_probe(
            config.url, loaded, fetch_policy, probe_timeout
        )
        found.extend(probed)
    if text is None and config.url is None:
        raise InvalidInputError(
            "Nothing to detect: the source names no URL, file or text.",
            hint="Pass a URL, a file path, or the document itself, or name the kind.",
        )
    for plugin in loaded:
        detection = await _guarded(
            plugin, "detect", probe_timeout, plugin.detect, text or "", url=config.url
        )
        if detection is not None:
            found.append(detection)
    candidates = _rank(found)
    if not candidates and fetch_error is not None:
        raise fetch_error
    return candidates


def _plugins(registry: PluginRegistry) -> list[SourcePlugin]:
    plugins = []
    for kind in registry.kinds():
        try:
            plugins.append(registry.get(kind))
        except Exception as exc:  # a broken third-party entry point must not stop detection
            logger.warning("source plugin %r cannot be loaded: %s", kind, _scrub(exc))
    return plugins


async def _fetch_and_probe(
    url: str, plugins: list[SourcePlugin], policy: FetchPolicy, timeout: float
) -> tuple[str | None, FetchError | None, list[Detection]]:
    """Fetch the document while every plugin with a ``probe`` asks the server itself."""
    text: str | None = None
    error: FetchError | None = None
    probed: list[Detection] = []
    fetching = anyio.CancelScope()
    probers = [plugin for plugin in plugins if callable(getattr(plugin, "probe", None))]

    async def fetch() -> None:
        nonlocal text, error
        with fetching:
            try:
                data, _ = await fetch_document(url, policy=policy)
            except FetchError as exc:
                error = exc
            else:
                text = _decode(data)

    async def probe(plugin: SourcePlugin, client: httpx2.AsyncClient) -> None:
        method = cast(Probe, plugin.probe)  # type: ignore[attr-defined]
        detection = await _guarded(
            plugin, "probe", timeout, method, url, http=client, timeout=timeout
        )
        if detection is not None:
            probed.append(detection)
            if detection.confidence >= CERTAIN:
                fetching.cancel()

    client = guarded_client(
        allow_private=policy.allow_private,
        timeout=httpx2.Timeout(timeout),
        follow_redirects=False,
    )
    async with client, anyio.create_task_group() as tasks:
        tasks.start_soon(fetch)
        for plugin in probers:
            tasks.start_soon(probe, plugin, client)
    return text, error, probed


async def _guarded(
    plugin: SourcePlugin,
    what: str,
    limit: float,
    method: Callable[..., Awaitable[Detection | None]],
    *args: Any,
    **kwargs: Any,
) -> Detection | None:
    """Run one plugin's ``detect`` or ``probe``: bounded in time, failures logged and dropped."""
    kind = getattr(plugin, "kind", type(plugin).__name__)
    try:
        with anyio.fail_after(limit + 1.0):
            detection = await method(*args, **kwargs)
    except TimeoutError:
        logger.warning("source plugin %r: %s took longer than %.0f s", kind, what, limit)
        return None
    except Exception as exc:
        logger.warning("source plugin %r: %s failed: %s", kind, what, _scrub(exc))
        return None
    if detection is None:
        return None
    if not isinstance(detection, Detection) or not 0.0 <= detection.confidence <= 1.0:
        logger.warning("source plugin %r: %s returned an invalid detection", kind, what)
        return None
    return detection


def _rank(found: list[Detection]) -> list[Detection]:
    best: dict[str, Detection] = {}
    for detection in found:
        current = best.get(detection.kind)
        if current is None or detection.confidence > current.confidence:
            best[detection.kind] = detection
    return sorted(best.values(), key=lambda item: (-item.confidence, item.kind))


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig", "replace")


def _scrub(exc: BaseException) -> str:
    """An exception in one line, with URL query strings (which may hold keys) cut off."""
    message = _URL_QUERY.sub(r"\1?…", " ".join(str(exc).split())[:300])
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


__all__ = ["CONFIDENT", "PROBE_TIMEOUT", "describe_candidates", "detect_source", "source_config"]
