"""Loading an OpenAPI source: download, parse and index, with remote ``$ref`` documents on demand.

The CPU-heavy steps (parsing a 13 MB document, building a thousand tools) run in a worker
thread so the event loop stays responsive. Building runs until a ``$ref`` needs a document
that is not loaded; the loader then fetches it here, on the event loop, under the same fetch
policy, and resumes the build where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx2

from executor.errors import FetchError, InvalidInputError, SpecError
from executor.models import AuthMethod, ToolDefinition
from executor.sources.base import FetchPolicy, Progress, SourceBundle, SourceConfig
from executor.sources.fetch import fetch_document, is_url
from executor.sources.openapi.document import Version, openapi_version, parse_document
from executor.sources.openapi.operations import ToolBuilder
from executor.sources.openapi.refs import MissingDocument, RefResolver
from executor.sources.openapi.security import auth_methods

#: Most documents one spec may pull in through ``$ref``s.
MAX_DOCUMENTS = 200

T = TypeVar("T")


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


async def load_openapi(
    config: SourceConfig, *, fetch_policy: FetchPolicy, progress: Progress | None = None
) -> SourceBundle:
    """Read the spec ``config`` names and build its tools and auth methods.

    Raises :class:`SpecError` for a malformed or unsupported document and :class:`FetchError`
    when it (or a document it refers to) cannot or may not be fetched.
    """
    report = progress or _no_progress
    given = [value for value in (config.url, config.path, config.text) if value]
    if len(given) != 1:
        raise InvalidInputError(
            "An OpenAPI source needs exactly one of url, path or text.",
            hint="Give the spec's URL, a file path, or the document itself.",
        )
    async with httpx2.AsyncClient(timeout=fetch_policy.timeout, follow_redirects=False) as client:
        report("download", 0, None)
        location: str | None
        if config.text:
            data, location = config.text.encode("utf-8"), None
        else:
            target = config.url or config.path or ""
            data, location = await fetch_document(
                target, policy=fetch_policy, client=client, progress=report
            )
        report("download", len(data), len(data))

        report("parse", 0, 1)
        document, version = await anyio.to_thread.run_sync(_parse_spec, data, location)
        report("parse", 1, 1)
        spec_url = location if location and urlsplit(location).scheme in ("http", "https") else None

        resolver = RefResolver(document, location)
        loader = _DocumentLoader(resolver, fetch_policy, client)
        warnings: list[str] = []
        methods = await loader.run(lambda: auth_methods(document, resolver, warnings))
        builder = ToolBuilder(
            document,
            resolver,
            version=version,
            spec_url=spec_url,
            known_auth={method.id for method in methods},
        )

        def index_progress(done: int, total: int) -> None:
            anyio.from_thread.run_sync(report, "index", done, total)

        tools = await loader.run(lambda: builder.build(index_progress))
    warnings.extend(builder.warnings)
    if config.base_url is None and any(
        not is_url(server["url"]) for tool in tools for server in tool.binding["servers"]
    ):
        warnings.append(
            "The spec's servers are relative and it was not loaded from a URL: set base_url."
        )
    info: dict[str, Any] = document["info"] if isinstance(document.get("info"), dict) else {}
    source_config: dict[str, Any] = {
        key: value for key, value in config.to_json().items() if key != "text"
    }
    source_config["spec_url"] = spec_url
    return SourceBundle(
        requires_auth=_requires_auth(tools, methods),
        kind="openapi",
        title=str(info.get("title") or "OpenAPI API").strip(),
        summary=_summary(info),
        tools=tools,
        auth_methods=methods,
        config=source_config,
        spec=data,
        warnings=warnings,
    )


def _parse_spec(data: bytes, location: str | None) -> tuple[dict[str, Any], Version]:
    document = parse_document(data, location=location)
    return document, openapi_version(document, location=location)


def _requires_auth(tools: list[ToolDefinition], methods: list[AuthMethod]) -> bool:
    """Whether some tool cannot be called anonymously.

    A spec that declares auth methods but attaches them to no operation is taken to need
    them everywhere: leaving out ``security`` is a common slip, and anonymous calls would fail.
    """
    securities = [tool.binding["security"] for tool in tools]
    if any(security and [] not in security for security in securities):
        return True
    return bool(methods) and not any(securities)


def _summary(info: dict[str, Any]) -> str:
    for key in ("summary", "description"):
        text = info.get(key)
        if isinstance(text, str) and text.strip():
            line = text.strip().splitlines()[0].strip()
            return line if len(line) <= 200 else line[:199] + "…"
    return ""


class _DocumentLoader:
    """Runs resolution work in a thread, fetching the documents it turns out to need."""

    def __init__(self, resolver: RefResolver, policy: FetchPolicy, client: httpx2.AsyncClient):
        self._resolver = resolver
        self._policy = policy
        self._client = client
        self._count = 0

    async def run(self, work: Callable[[], T]) -> T:
        while True:
            try:
                return await anyio.to_thread.run_sync(work)
            except MissingDocument as missing:
                await self._load(missing)

    async def _load(self, missing: MissingDocument) -> None:
        self._count += 1
        if self._count > MAX_DOCUMENTS:
            raise SpecError(
                f"The spec refers to more than {MAX_DOCUMENTS} other documents.",
                hint="Bundle the spec into fewer files.",
            )
        is_remote = urlsplit(missing.location).scheme.lower() in ("http", "https")
        if missing.referrer is None and not is_remote and not self._policy.allow_files:
            raise FetchError(
                f"Refused to read local file {missing.location!r} referenced by inline spec text.",
                hint="Load the spec from its file instead, or allow files in the fetch policy.",
            )
        data, _ = await fetch_document(
            missing.location, policy=self._policy, base=missing.referrer, client=self._client
        )
        document = await anyio.to_thread.run_sync(
            lambda: parse_document(data, location=missing.location)
        )
        self._resolver.add_document(missing.location, document)


__all__ = ["MAX_DOCUMENTS", "load_openapi"]
