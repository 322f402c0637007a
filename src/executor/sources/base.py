"""The source plugin seam (PRODUCT.md §2).

A source plugin turns a user's config (a URL, a file, inline text, options) into tool
definitions, and calls those tools. Built-in plugins register through the same entry-point
group as third-party ones, ``executor.sources``; loading is lazy and can be limited with the
``EXECUTOR_SOURCES`` environment variable (a comma-separated list of plugin kinds).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx2

from executor.errors import InvalidInputError
from executor.models import ApprovalRequest, AuthMethod, ToolDefinition
from executor.results import ToolResult

ENTRY_POINT_GROUP = "executor.sources"

logger = logging.getLogger("executor.sources")

#: Called with (stage, done, total) while a source loads; total is None while unknown. Stages:
#: "download" (bytes of the document), "parse" (reading it: 0 of 1, then 1 of 1) and "index"
#: (a plugin building its tools, in tools; the executor shows that as part of "parse" and
#: reports "index" itself while it writes the tools into the catalog).
Progress = Callable[[str, int, int | None], None]
#: The stages of :data:`Progress`, in order.
STAGES = ("download", "parse", "index")


@dataclass(frozen=True)
class FetchPolicy:
    """What a plugin may fetch while loading a source.

    Loopback and public addresses are allowed. Private and link-local ranges only with
    ``allow_private``; cloud metadata endpoints (169.254.169.254, metadata.google.internal, …)
    never. Local files referenced from a document (``file://`` or a relative path from a remote
    document) only with ``allow_files``.
    """

    allow_files: bool = False
    allow_private: bool = False
    max_bytes: int = 64 * 1024 * 1024
    timeout: float = 30.0


@dataclass(frozen=True)
class SourceConfig:
    """What the user gave to add a source.

    Exactly one of ``url``, ``path`` or ``text`` names the document. ``base_url`` overrides the
    servers the document declares. ``options`` are plugin-specific settings.
    """

    url: str | None = None
    path: str | None = None
    text: str | None = None
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in {
                "url": self.url,
                "path": self.path,
                "text": self.text,
                "base_url": self.base_url,
                "options": self.options or None,
            }.items()
            if value is not None
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceConfig:
        return cls(
            url=data.get("url"),
            path=data.get("path"),
            text=data.get("text"),
            base_url=data.get("base_url"),
            options=dict(data.get("options") or {}),
        )


@dataclass(frozen=True)
class Detection:
    """A plugin's opinion that a document is of its kind, with a confidence in [0, 1].

    ``options`` are source options the plugin wants when the source is added from this
    detection (say, which transport a probe found); they go into ``SourceConfig.options``.
    """

    kind: str
    confidence: float
    reason: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceBundle:
    """Everything a plugin produced from a source document.

    ``spec`` is the raw document (stored compressed so refresh and describe can read it again);
    ``config`` is the normalised config to store (e.g. the chosen base URL). ``requires_auth``
    is False when every tool can be called without credentials, so the source gets a
    ``default`` connection as soon as it is added.
    """

    kind: str
    title: str
    summary: str
    tools: list[ToolDefinition]
    auth_methods: list[AuthMethod]
    config: dict[str, Any]
    spec: bytes | None = None
    requires_auth: bool = True
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AppliedAuth:
    """Credentials resolved into what goes on the wire. Values are secret: never log them."""

    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginCall:
    """One call for a plugin to carry out.

    ``integration_config`` is the stored (normalised) source config; ``connection_settings``
    are the connection's non-secret settings (``base_url`` override, extra ``headers``,
    ``timeout``). ``http`` is the connection's pooled client. ``integration`` (the slug),
    ``connection_id`` and ``address`` let a plugin keep per-connection state (e.g. one MCP
    session per connection) and name the call to a human. ``answers`` are a human's answers to
    the questions this call's upstream asked on earlier attempts (``input_required``), each
    ``{"schema", "action": "accept"|"decline", "content"}``.
    """

    tool: ToolDefinition
    arguments: Mapping[str, Any]
    integration_config: Mapping[str, Any]
    connection_settings: Mapping[str, Any]
    auth: AppliedAuth
    http: httpx2.AsyncClient
    timeout: float
    integration: str = ""
    connection_id: str = ""
    address: str = ""
    answers: Sequence[Mapping[str, Any]] = ()


@runtime_checkable
class PluginHost(Protocol):
    """What an Executor offers the plugins it loaded (handed over by ``bind``).

    Plugins that keep connections open (MCP sessions, stdio processes) use it to run
    background tasks the executor owns and cancels at close, to resolve secret references at
    connect time, to ask for a catalog refresh when an upstream says its tools changed, and to
    ask a human through the executor's approval callback.
    """

    def start_soon(self, func: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``func`` in a task owned by the executor; it is cancelled when the executor
        closes (after every plugin's ``aclose``). Exceptions are logged, never propagated."""
        ...

    async def resolve_secret(self, reference: str) -> str:
        """The value of a secret reference (``secret://…``, ``env://…``); SecretError if not."""
        ...

    async def refresh(self, integration: str) -> bool:
        """Re-load an integration's tools now. Returns False (and logs why) when the source
        cannot be read; the last good tools then stay in the catalog."""
        ...

    async def approve(self, request: ApprovalRequest) -> bool | None:
        """Ask a human through the executor's approval callback: True or False, or None when
        the executor has no approval callback."""
        ...

    async def load_spec(self, integration: str) -> bytes | None:
        """The source document stored with an integration (``SourceBundle.spec``), or None."""
        ...


@runtime_checkable
class SourcePlugin(Protocol):
    """What every source plugin implements."""

    kind: ClassVar[str]

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        """Judge a pasted document (or the body fetched from ``url``)."""
        ...

    async def load(
        self,
        config: SourceConfig,
        *,
        fetch_policy: FetchPolicy,
        progress: Progress | None = None,
    ) -> SourceBundle:
        """Read the source and build its tools. Raise :class:`SpecError`/:class:`FetchError`."""
        ...

    async def call(self, request: PluginCall) -> ToolResult:
        """Carry out a call and return the result envelope (never raise for upstream failures)."""
        ...

    # Optional, looked up with getattr (a Protocol cannot declare optional members):
    #   def bind(self, host: PluginHost) -> None        called once when the plugin is loaded
    #   async def aclose(self) -> None                  called when the executor closes
    #   async def probe(self, url, *, http, timeout) -> Detection | None
    #   async def validate_arguments(self, request: PluginCall) -> None
    #       checks the plugin cannot express in the input schema, run before approval: raise
    #       InvalidArgumentsError for a call that can only fail
    #   hold_changes_for_review: ClassVar[bool]
    #   unreviewed_config: ClassVar[frozenset[str]]
    #       keys of SourceBundle.config a refresh may change without review (bookkeeping that
    #       never decides where calls go or which credentials they carry); every other key,
    #       and the auth methods, are held for review like tool changes


def _enabled_kinds() -> set[str] | None:
    kinds = {kind.strip() for kind in os.environ.get("EXECUTOR_SOURCES", "").split(",")}
    return (kinds - {""}) or None


class PluginRegistry:
    """Source plugins by kind, loaded lazily from the ``executor.sources`` entry points."""

    def __init__(self, plugins: Mapping[str, SourcePlugin] | None = None) -> None:
        self._plugins: dict[str, SourcePlugin] = dict(plugins or {})
        self._host: PluginHost | None = None
        self._loading = threading.Lock()
        self._entry_points = {
            ep.name: ep
            for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.name not in self._plugins
        }
        enabled = _enabled_kinds()
        if enabled is not None:
            self._entry_points = {k: v for k, v in self._entry_points.items() if k in enabled}

    def load(self, kinds: Iterable[str] | None = None) -> None:
        """Import these installed plugins now (default: every enabled one). The executor
        imports those its integrations use in a worker thread at open, so no call pays for
        the imports and no process pays for plugins it does not use."""
        for kind in list(self._entry_points) if kinds is None else kinds:
            if kind in self._entry_points:
                self.get(kind)

    def kinds(self) -> list[str]:
        return sorted({*self._plugins, *self._entry_points})

    def get(self, kind: str) -> SourcePlugin:
        plugin = self._plugins.get(kind)
        if plugin is not None:
            return plugin
        entry_point = self._entry_points.get(kind)
        if entry_point is None:
            raise InvalidInputError(
                f"No source plugin of kind {kind!r}.",
                hint=f"Installed kinds: {', '.join(self.kinds()) or 'none'}.",
            )
        # One instance per kind, also when the warm-up thread and a call want it at once.
        with self._loading:
            plugin = self._plugins.get(kind)
            if plugin is None:
                plugin = entry_point.load()()
                if self._host is not None:
                    _bind(plugin, self._host)
                self._plugins[kind] = plugin
        return plugin

    def bind(self, host: PluginHost) -> None:
        """Give ``host`` to every plugin loaded now and to each plugin loaded later."""
        self._host = host
        for plugin in list(self._plugins.values()):
            _bind(plugin, host)

    async def aclose(self) -> None:
        """Let every loaded plugin release what it holds (sessions, processes)."""
        for kind, plugin in list(self._plugins.items()):
            close = getattr(plugin, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:
                logger.exception("closing the %s source plugin failed", kind)


def _bind(plugin: SourcePlugin, host: PluginHost) -> None:
    bind = getattr(plugin, "bind", None)
    if bind is not None:
        bind(host)
