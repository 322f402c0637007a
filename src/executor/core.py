"""The core object every surface drives: :class:`Executor` and its sub-APIs."""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx2

from executor.addresses import MAX_SLUG, check_slug, is_identifier, to_identifier
from executor.audit import AuditWriter
from executor.auth import normalize_auth, replace_fields, secret_fields
from executor.calls import ApprovalCallback, CallPipeline
from executor.errors import AlreadyExistsError, ExecutorError, InvalidInputError, NotFoundError
from executor.executions import DEFAULT_TTL, Executions, ResumeAction
from executor.models import (
    POLICY_ACTIONS,
    REVIEW_MODES,
    ApprovalRequest,
    Connection,
    Execution,
    Integration,
    IntegrationReview,
    Policy,
    PolicyAction,
    PolicyScope,
    RefreshReport,
    ReviewMode,
    SearchHit,
    SearchResults,
    Tool,
    ToolDefinition,
    ToolReview,
)
from executor.policy import PolicySet, check_pattern
from executor.refresh import plan_mode, plan_refresh, plan_review, plan_unchanged
from executor.results import ToolResult
from executor.sandbox import SandboxLimits
from executor.secrets import (
    EncryptedSecretStore,
    SecretResolver,
    default_resolver,
    load_or_create_key,
)
from executor.settings import Settings
from executor.sources.base import (
    Detection,
    FetchPolicy,
    PluginRegistry,
    Progress,
    SourceBundle,
    SourceConfig,
    SourcePlugin,
)
from executor.sources.detect import CONFIDENT, describe_candidates, detect_source, source_config
from executor.sources.fetch import CONNECT_TIMEOUT, guarded_client, warm_up_tls
from executor.store import RunRecord, Store, StoredTool
from executor.toolkits import Toolkits, contains, current_toolkit, toolkit_rules

_logger = logging.getLogger("executor.core")

#: Seconds between sweeps that mark overdue paused executions expired.
EXPIRY_SWEEP = 60.0


class Executor:
    """One catalog of integrations, its connections, policies and secrets.

    Open it with ``async with Executor.open() as ex:``; everything else hangs off it:
    ``ex.sources``, ``ex.connections``, ``ex.tools``, ``ex.policies``, ``ex.secrets``,
    ``ex.runs``, ``ex.call(address, arguments)`` and code mode's ``ex.execute(code)`` /
    ``ex.resume(execution_id, action)``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        workspace_id: str,
        user_id: str,
        secret_store: EncryptedSecretStore,
        secret_resolver: SecretResolver,
        plugins: PluginRegistry,
        fetch_policy: FetchPolicy,
        on_approval: ApprovalCallback | None,
        key: bytes,
        sandbox_limits: SandboxLimits | None = None,
        execution_ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workspace_id = workspace_id
        self.user_id = user_id
        self.secret_store = secret_store
        self.secret_resolver = secret_resolver
        self.plugins = plugins
        self.fetch_policy = fetch_policy
        self.audit = AuditWriter(store, workspace_id)
        self.pipeline = CallPipeline(self, on_approval)
        self.has_approver = on_approval is not None
        self._clients: dict[str, httpx2.AsyncClient] = {}
        self._rules: list[Policy] | None = None
        self._policy_set: tuple[list[Policy], PolicySet] | None = None
        #: Bumped by every catalog change: a cache read that straddles one is not kept.
        self._generation = 0
        self._catalog_version: int | None = None
        self._catalog_checked = -math.inf
        self._addresses: list[str] | None = None
        self._connection_names: dict[str, list[str]] | None = None
        self.sources = Sources(self)
        self.connections = Connections(self)
        self.tools = Tools(self)
        self.policies = Policies(self)
        self.secrets = Secrets(self)
        self.runs = Runs(self)
        self._warmed = anyio.Event()
        # Background chores (warm-up, expiry sweeps): cancelled when the executor closes.
        self._chores: list[anyio.CancelScope] = []
        self._closing = False
        self.toolkits = Toolkits(self)
        self._catalog_listeners: dict[object, Callable[[], None]] = {}
        self.executions = Executions(self, key=key, limits=sandbox_limits, ttl=execution_ttl)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        *,
        data_dir: str | Path | None = None,
        database_url: str | None = None,
        database_schema: str | None = None,
        on_approval: ApprovalCallback | None = None,
        plugins: Mapping[str, SourcePlugin] | None = None,
        fetch_policy: FetchPolicy | None = None,
        call_timeout: float | None = None,
        catalog_refresh: float | None = None,
        sandbox_limits: SandboxLimits | None = None,
        execution_ttl: timedelta = DEFAULT_TTL,
        expiry_sweep: float = EXPIRY_SWEEP,
    ) -> AsyncIterator[Executor]:
        """Open the catalog (migrating the database if needed) and close it on exit.

        With no arguments it uses the embedded SQLite database in the data dir
        (``EXECUTOR_DATA_DIR``, default ``~/.executor``), or ``EXECUTOR_DATABASE_URL``.
        ``on_approval`` decides calls that need approval; without it they return an
        ``approval_required`` error. Every ``expiry_sweep`` seconds, paused executions past
        their deadline are marked expired (and runs orphaned by a dead process failed).
        """
        settings = Settings.from_env(
            data_dir=data_dir,
            database_url=database_url,
            database_schema=database_schema,
            call_timeout=call_timeout,
            catalog_refresh=catalog_refresh,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = await Store.open(settings.database_url, schema=settings.database_schema)
        try:
            workspace_id, user_id = await store.ensure_local_workspace()
            key = load_or_create_key(settings.data_dir, settings.environ)
            secret_store = EncryptedSecretStore(store, workspace_id, key)
            executor = cls(
                settings=settings,
                store=store,
                workspace_id=workspace_id,
                user_id=user_id,
                secret_store=secret_store,
                secret_resolver=default_resolver(secret_store),
                plugins=PluginRegistry(plugins),
                fetch_policy=fetch_policy or FetchPolicy(),
                on_approval=on_approval,
                key=key,
                sandbox_limits=sandbox_limits,
                execution_ttl=execution_ttl,
            )
            # The audit writer runs in a task group entered by hand: yielding inside
            # `async with create_task_group()` would wrap every exception of the caller's block
            # in an ExceptionGroup, and `except NotFoundError` would never match.
            tasks = anyio.create_task_group()
            await tasks.__aenter__()
            host = PluginTasks(executor, tasks)
            executor.plugins.bind(host)
            try:
                tasks.start_soon(executor.audit.run)
                # Off the loop and off the first call's path: the CA bundle takes ~30 ms.
                tasks.start_soon(anyio.to_thread.run_sync, warm_up_tls)
                tasks.start_soon(executor._chore, executor._warm_up)
                tasks.start_soon(executor._chore, executor._sweep_expired, expiry_sweep)
                yield executor
            finally:
                executor._closing = True
                for chore in executor._chores:
                    chore.cancel()
                executor.audit.close()
                try:
                    # Plugins stop their sessions and reap their processes before the
                    # executor's task group (which runs their background tasks) is left.
                    with anyio.CancelScope(shield=True):
                        await executor.plugins.aclose()
                    host.close()
                    await tasks.__aexit__(None, None, None)
                finally:
                    # Also when cancelled: the writer may have been stopped mid-wait, so write
                    # what is left here, and never leak sandbox workers or connections.
                    with anyio.CancelScope(shield=True):
                        await executor.audit.flush()
                        await executor._close_clients()
                        await executor.executions.aclose()
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()

    async def ready(self) -> None:
        """Wait until the warm-up started at open has finished.

        A fresh process pays first-use costs (importing the source plugins its integrations
        use, sandbox workers, each SQL statement's first compilation, caches): the warm-up
        pays them in the background right after open. A server awaits this before accepting
        requests; nothing else needs to.
        """
        await self._warmed.wait()

    async def _chore(self, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        if self._closing:  # closed before the chore even started
            self._warmed.set()
            return
        with anyio.CancelScope() as scope:
            self._chores.append(scope)
            await work(*args)

    async def _warm_up(self) -> None:
        # Shielded: a close right after open waits the few ms it takes, because a statement
        # cancelled midway can leave the database driver's cleanup behind at loop shutdown.
        with anyio.CancelScope(shield=True):
            try:
                # The plugins the catalog uses (importing the MCP client alone takes ~0.5 s).
                kinds = {i.kind for i in await self.store.list_integrations(self.workspace_id)}
                await anyio.to_thread.run_sync(self.plugins.load, kinds)
                await self.executions.sandbox.start()
                await self.check_catalog()
                await self.policy_rules()
                # The statements a call and a resume run; neither id exists, nothing changes.
                with contextlib.suppress(ExecutorError):
                    await self.pipeline.resolve("warm.up.nothing")
                with contextlib.suppress(ExecutorError):
                    await self.store.claim_execution(self.workspace_id, "warm-up")
            except Exception:  # an optimisation only: a failure must not stop the executor
                _logger.warning("warm-up after open failed", exc_info=True)
            finally:
                self._warmed.set()

    async def _sweep_expired(self, every: float) -> None:
        while True:
            await anyio.sleep(every)
            try:
                with anyio.CancelScope(shield=True):  # see _warm_up
                    changed = await self.store.expire_executions(self.workspace_id)
            except ExecutorError as exc:
                _logger.warning("could not expire overdue executions: %s", exc.message)
            else:
                if changed:
                    _logger.info("marked %d overdue execution(s) expired or failed", changed)

    async def execute(self, code: str, *, caller: str = "sdk") -> Execution:
        """Run agent code in the sandbox (code mode; see docs/code-mode.md).

        Returns an :class:`Execution`: ``completed`` with the last expression's value,
        ``failed`` with an error, or ``paused`` at a call that needs approval — then answer it
        with :meth:`resume`, from this process or any other.
        """
        return await self.executions.execute(code, caller=caller)

    async def resume(
        self,
        execution_id: str,
        action: ResumeAction = "accept",
        content: Mapping[str, Any] | None = None,
    ) -> Execution:
        """Continue a paused execution: ``accept``, ``decline`` or ``cancel`` its pending call."""
        return await self.executions.resume(execution_id, action, content)

    async def call(
        self, address: str, arguments: Mapping[str, Any] | None = None, *, caller: str = "sdk"
    ) -> ToolResult:
        """Call a tool and return its result envelope (PRODUCT.md §1.2); never raises for
        expected failures: check ``result["ok"]``. ``caller`` names the surface in the run
        history."""
        return await self.pipeline.call(address, arguments, caller=caller)

    # -- internals shared by the sub-APIs and the call pipeline --------------------------------

    def call_timeout(self, connection: Connection) -> float:
        """Seconds a call through this connection may take (its setting, else the default)."""
        return float(connection.settings.get("timeout", self.settings.call_timeout))

    def http_client(self, connection: Connection) -> httpx2.AsyncClient:
        """The pooled HTTP client of a connection (one pool per connection)."""
        client = self._clients.get(connection.id)
        if client is None:
            timeout = self.call_timeout(connection)
            # Calls may reach private networks (internal APIs are common), never cloud metadata.
            client = guarded_client(
                allow_private=True,
                timeout=httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
                limits=httpx2.Limits(max_connections=20, max_keepalive_connections=10),
                follow_redirects=False,
            )
            self._clients[connection.id] = client
        return client

    async def _close_clients(self, connection_id: str | None = None) -> None:
        ids = [connection_id] if connection_id else list(self._clients)
        for key in ids:
            client = self._clients.pop(key, None)
            if client is not None:
                await client.aclose()

    async def policy_rules(self) -> list[Policy]:
        """Every policy rule, cached until a policy changes; working through a toolkit, its own
        rules follow the workspace's."""
        while (rules := self._rules) is None:
            generation = self._generation
            read = await self.store.list_policies(self.workspace_id)
            if generation == self._generation:  # else a change came meanwhile: read again
                self._rules = read
        toolkit = current_toolkit(self.workspace_id)
        return rules if toolkit is None else [*rules, *toolkit_rules(toolkit)]

    async def connection_names(self) -> dict[str, list[str]]:
        """The names of the workspace's connections by integration, cached until the catalog
        changes (a search reads them for every hit)."""
        while (names := self._connection_names) is None:
            generation = self._generation
            read: dict[str, list[str]] = {}
            for connection in await self.store.list_connections(self.workspace_id):
                read.setdefault(connection.integration, []).append(connection.name)
            if generation == self._generation:  # else a change came meanwhile: read again
                self._connection_names = read
        return names

    async def policy_set(self) -> PolicySet:
        """:meth:`policy_rules` prepared for deciding (patterns compiled); outside a toolkit,
        cached with the rules."""
        rules = await self.policy_rules()
        cached = self._policy_set
        if cached is not None and cached[0] is rules:
            return cached[1]
        prepared = PolicySet(rules, user_id=self.user_id)
        if rules is self._rules:  # not a toolkit's list, made afresh for each call
            self._policy_set = (rules, prepared)
        return prepared

    async def addresses(self, *, include_blocked: bool = False) -> list[str]:
        """Every tool address, cached until the catalog changes. Blocked tools are hidden
        everywhere, suggestions included, unless ``include_blocked``."""
        while (addresses := self._addresses) is None:
            generation = self._generation
            names = await self.store.tool_names(self.workspace_id)
            connections = await self.connection_names()
            if generation == self._generation:  # else a change came meanwhile: read again
                self._addresses = [
                    f"{slug}.{conn}.{name}"
                    for slug, name in names
                    for conn in connections.get(slug, [])
                ]
        toolkit = current_toolkit(self.workspace_id)
        if toolkit is not None:
            addresses = [address for address in addresses if contains(toolkit, address)]
        if include_blocked:
            return addresses
        policies = await self.policy_set()
        return [a for a in addresses if policies.decide(a, "allow").action != "block"]

    async def check_catalog(self) -> None:
        """Drop the caches if any process changed the catalog since they were filled.

        Changes made through this executor apply at once. Changes made by another process
        (the CLI, another replica) are noticed within ``settings.catalog_refresh`` seconds:
        the shared version is read at most that often, not on every call.
        """
        now = time.monotonic()
        if now - self._catalog_checked < self.settings.catalog_refresh:
            return
        self._catalog_checked = now
        version = await self.store.catalog_version(self.workspace_id)
        if version != self._catalog_version:
            self.catalog_changed()
            self._catalog_version = version

    def catalog_changed(self) -> None:
        """Drop every cache that depends on the catalog, connections, policies or toolkits, and
        tell the listeners registered with :meth:`on_catalog_change`."""
        self._generation += 1
        self._rules = None
        self._addresses = None
        self._connection_names = None
        self.pipeline.invalidate()
        self.toolkits.forget()
        for listener in list(self._catalog_listeners.values()):
            listener()

    def on_catalog_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` (synchronously; it must not raise or block) whenever this
        executor sees the catalog change — its own changes at once, other processes' within
        ``settings.catalog_refresh`` of a :meth:`check_catalog`. Returns the unsubscribe."""
        token = object()
        self._catalog_listeners[token] = listener

        def unsubscribe() -> None:
            self._catalog_listeners.pop(token, None)

        return unsubscribe


#: Header names that carry credentials: they belong in ``auth``, where values are secrets.
_CREDENTIAL_HEADER = re.compile(
    r"authorization|cookie|token|secret|passw|api[-_]?key|auth", re.IGNORECASE
)


def _plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Extra non-secret headers of a connection; credential headers are refused."""
    for header in headers:
        if _CREDENTIAL_HEADER.search(header):
            raise InvalidInputError(
                f"Header {header!r} looks like a credential; connection headers are stored "
                "in plain text.",
                hint='Pass it as auth={"type": "custom_headers", "headers": {...}} instead.',
            )
    return dict(headers)


def _source_record(config: SourceConfig) -> dict[str, Any]:
    """The source config to keep with an integration. Inline text is left out: the spec is
    stored (compressed) already, and refresh reads it from there."""
    record = config.to_json()
    if record.pop("text", None) is not None:
        record["inline"] = True
    return record


def _stored_source(record: Mapping[str, Any]) -> SourceConfig:
    """The source config kept by :func:`_source_record`, without the inline text."""
    return SourceConfig.from_json({k: v for k, v in record.items() if k != "inline"})


def _derived_slug(title: str, config: SourceConfig, kind: str) -> str:
    """A slug for a source added without one: from its title, else its host, else its kind."""
    host = urlsplit(config.url).hostname if config.url else None
    for text in (title, (host or "").removeprefix("www.").split(".")[0]):
        slug = to_identifier(text, fallback="")[:MAX_SLUG].rstrip("_")
        if slug and is_identifier(slug):
            return slug
    return kind


class PluginTasks:
    """The :class:`~executor.sources.base.PluginHost` an Executor gives its source plugins."""

    def __init__(self, executor: Executor, tasks: anyio.abc.TaskGroup) -> None:
        self._ex = executor
        self._tasks = tasks
        self._scopes: set[anyio.CancelScope] = set()
        self._closed = False

    def start_soon(self, func: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``func`` in the executor's task group until it returns or the executor closes."""
        if self._closed:
            raise RuntimeError("The executor is closed.")

        async def run() -> None:
            with anyio.CancelScope() as scope:
                self._scopes.add(scope)
                try:
                    await func()
                except Exception:
                    _logger.exception("background task %s failed", name)
                finally:
                    self._scopes.discard(scope)

        self._tasks.start_soon(run, name=name)

    async def resolve_secret(self, reference: str) -> str:
        """The value behind a secret reference."""
        return await self._ex.secret_resolver.resolve(reference)

    async def refresh(self, integration: str) -> bool:
        """Re-load an integration; False (logged) when that fails and the old tools stay."""
        try:
            await self._ex.sources.refresh(integration)
        except ExecutorError as exc:
            _logger.warning("refreshing %s failed; its last good tools stay: %s", integration, exc)
            return False
        return True

    async def approve(self, request: ApprovalRequest) -> bool | None:
        """Ask the executor's approval callback; None without one."""
        return await self._ex.pipeline.ask_human(request)

    async def load_spec(self, integration: str) -> bytes | None:
        """The integration's stored source document (a GraphQL plugin checks queries on it)."""
        return await self._ex.store.load_spec(self._ex.workspace_id, integration)

    def close(self) -> None:
        """Cancel every task still running (plugins should have stopped them in ``aclose``)."""
        self._closed = True
        for scope in list(self._scopes):
            scope.cancel()


class _Part:
    """A sub-API of one :class:`Executor` (``ex.sources``, ``ex.tools``, …)."""

    def __init__(self, executor: Executor) -> None:
        self._ex = executor


class Sources(_Part):
    """Add, list, refresh and remove integrations (``ex.sources``)."""

    async def add_openapi(
        self,
        slug: str,
        spec: str | Mapping[str, Any],
        *,
        base_url: str | None = None,
        progress: Progress | None = None,
    ) -> Integration:
        """Add an OpenAPI (or Swagger 2.0) integration from a URL, a file path, text or a dict.

        A spec without security schemes gets a ``default`` connection right away.
        """
        return await self.add(
            slug, "openapi", source_config(spec, base_url=base_url), progress=progress
        )

    async def add_mcp(
        self,
        slug: str,
        url: str | None = None,
        *,
        command: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        transport: str | None = None,
        headers: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> Integration:
        """Add an upstream MCP server: a ``url`` (streamable HTTP, or ``transport="sse"``) or
        a local ``command`` run over stdio (see docs/mcp-sources.md).

        ``env`` and ``headers`` values that are credentials must be secret references
        (``secret://…``, ``env://…``); they are resolved when the server is started.
        """
        options: dict[str, Any] = {"transport": transport} if transport else {}
        if command is not None:
            options.update(command=command, args=list(args))
        if env:
            options["env"] = dict(env)
        if cwd is not None:
            options["cwd"] = cwd
        if headers:
            options["headers"] = dict(headers)
        config = SourceConfig(url=url, options=options)
        return await self.add(slug, "mcp", config, progress=progress)

    async def detect(self, source: str | Mapping[str, Any] | SourceConfig) -> list[Detection]:
        """Which installed source kinds can read ``source`` (a URL, a file path, a document's
        text or a parsed document), best first, each with a confidence and a reason.

        A URL is fetched once and shown to every plugin; plugins that recognise a server by
        talking to it (GraphQL introspection, MCP ``initialize``) probe it meanwhile. An empty
        list means nothing recognised it; an unreadable URL or file raises ``fetch_failed``.
        """
        config = source if isinstance(source, SourceConfig) else source_config(source)
        return await detect_source(
            config, plugins=self._ex.plugins, fetch_policy=self._ex.fetch_policy
        )

    async def add(
        self,
        slug: str | None = None,
        kind: str | None = None,
        config: SourceConfig | None = None,
        *,
        source: str | Mapping[str, Any] | None = None,
        base_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        review_changes: bool | None = None,
        review_mode: ReviewMode | None = None,
        progress: Progress | None = None,
    ) -> Integration:
        """Add an integration of any installed source kind. Nothing is stored if loading fails.

        Name the source with ``source`` (a URL, a file path, the document's text or a parsed
        document, plus ``base_url`` and plugin ``options``) or with a ready ``config``; a
        source made of options alone (an MCP stdio command) needs ``kind``. Without ``kind``
        the source is :meth:`detect`-ed and the most confident kind is used; when no candidate
        reaches 0.5 nothing is added and the error lists the candidates. Without ``slug`` one
        is derived from the source's title.

        ``review_changes`` holds tools that a later refresh adds or changes until a person
        reviews them (default: the plugin's ``hold_changes_for_review``, else off);
        ``review_mode`` says what a held changed tool does meanwhile (see :meth:`configure`).
        """
        ex = self._ex
        if slug is not None and source is None and config is None and not is_identifier(slug):
            raise InvalidInputError(
                f"{slug[:80]!r} is not a slug; the source itself goes in source=.",
                hint=f"Call sources.add(source={slug[:80]!r}) (the slug is then derived).",
            )
        config = _given_source(config, source, base_url, options, kind)
        if review_mode is not None:
            _check_review_mode(review_mode)
        if slug is not None:
            check_slug(slug, "Integration slug")
            await self._check_free(slug)
        if kind is None:
            kind, config = _choose_kind(await self.detect(config), config, ex.plugins.kinds())
        plugin = ex.plugins.get(kind)
        if review_changes is None:
            review_changes = bool(getattr(plugin, "hold_changes_for_review", False))
        bundle = await self._load(kind, config, progress)
        if slug is None:
            slug = _derived_slug(bundle.title, config, kind)
            await self._check_free(slug)
        if progress is not None:
            progress("index", 0, len(bundle.tools))
        integration = await ex.store.create_integration(
            ex.workspace_id,
            slug=slug,
            kind=kind,
            title=bundle.title,
            summary=bundle.summary,
            config={**bundle.config, "source": _source_record(config)},
            spec=bundle.spec,
            auth_methods=bundle.auth_methods,
            tools=bundle.tools,
            review_changes=review_changes,
            review_mode=review_mode or "serve_reviewed",
            progress=_index_progress(progress),
        )
        if not bundle.auth_methods or not bundle.requires_auth:
            await ex.store.create_connection(
                ex.workspace_id,
                integration=slug,
                name="default",
                auth={"type": "none"},
                settings={},
                user_id=None,
            )
        ex.catalog_changed()
        return integration

    async def _check_free(self, slug: str) -> None:
        if await self._ex.store.get_integration(self._ex.workspace_id, slug) is not None:
            raise AlreadyExistsError(
                f"An integration named {slug!r} exists already.",
                hint=f"Refresh it with sources.refresh('{slug}') or pick another slug.",
            )

    async def _load(
        self, kind: str, config: SourceConfig, progress: Progress | None
    ) -> SourceBundle:
        plugin = self._ex.plugins.get(kind)
        return await plugin.load(
            config, fetch_policy=self._ex.fetch_policy, progress=_plugin_progress(progress)
        )

    async def list(self) -> list[Integration]:
        """Every integration in the catalog, by slug."""
        return await self._ex.store.list_integrations(self._ex.workspace_id)

    async def get(self, slug: str) -> Integration:
        """One integration; raises ``not_found`` when there is none."""
        integration = await self._ex.store.get_integration(self._ex.workspace_id, slug)
        if integration is None:
            raise NotFoundError(
                f"No integration named {slug!r}.", hint="List them with sources.list()."
            )
        return integration

    async def refresh(self, slug: str, *, progress: Progress | None = None) -> RefreshReport:
        """Re-read the source and report which tools were added, changed or removed.

        With ``review_changes`` on, added tools and tools whose definition differs from the
        one a person last reviewed are held instead of served (``held`` in the report; decide
        them with :meth:`review`). Removed tools go at once. So is a change to the
        integration's authority settings (base URL, endpoint, servers, MCP command or URL,
        auth methods; ``@integration`` in ``held``): the reviewed settings stay until it is
        accepted, while title and summary apply at once. If the source can no longer be read,
        the error is raised and the catalog is untouched.
        """
        ex = self._ex
        integration = await self.get(slug)
        record = integration.config.get("source", {})
        config = _stored_source(record)
        if record.get("inline") or not (config.url or config.path or config.options):
            # Added from inline text: the document itself is the stored spec.
            spec = await ex.store.load_spec(ex.workspace_id, slug) or b""
            config = replace(config, text=spec.decode("utf-8", "replace"))
        bundle = await self._load(integration.kind, config, progress)
        plugin = ex.plugins.get(integration.kind)
        plan = await ex.store.update_tools(
            ex.workspace_id,
            slug,
            plan_refresh(
                bundle.tools,
                config={**bundle.config, "source": _source_record(config)},
                auth_methods=bundle.auth_methods,
                unreviewed_config=getattr(plugin, "unreviewed_config", ()),
            ),
            values={"title": bundle.title, "summary": bundle.summary, "spec": bundle.spec},
            progress=_index_progress(progress),
        )
        ex.catalog_changed()
        report: RefreshReport = plan.report
        return report

    async def configure(
        self,
        slug: str,
        *,
        review_changes: bool | None = None,
        review_mode: ReviewMode | None = None,
    ) -> Integration:
        """Change how refreshes treat an integration's tool changes.

        ``review_changes`` holds added and changed tools for review on later refreshes.
        ``review_mode`` says what a held *changed* tool does meanwhile: ``serve_reviewed``
        (default) keeps serving the definition a person last reviewed, ``block`` makes it
        uncallable until reviewed; switching applies to the changes held already. Turning
        reviews off leaves held changes held until reviewed or until the next refresh, which
        then serves the source as it is.
        """
        values: dict[str, Any] = {}
        if review_changes is not None:
            values["review_changes"] = bool(review_changes)
        if review_mode is not None:
            values["review_mode"] = _check_review_mode(review_mode)
        if values:
            await self._ex.store.update_tools(
                self._ex.workspace_id,
                slug,
                plan_mode(review_mode) if review_mode is not None else plan_unchanged,
                values=values,
            )
            self._ex.catalog_changed()
        return await self.get(slug)

    async def pending_reviews(
        self, slug: str | None = None
    ) -> builtins.list[ToolReview | IntegrationReview]:
        """Changes held for review (of one integration, or all), each with the reviewed and the
        proposed definition (``changed_fields`` names what differs). A change to an
        integration's own authority settings is an :class:`IntegrationReview` named
        ``@integration``, listed before its tools'."""
        if slug is not None:
            await self.get(slug)
        return await self._ex.store.list_tool_reviews(self._ex.workspace_id, slug)

    async def review(
        self,
        slug: str,
        tools: Sequence[str] | str | None = None,
        *,
        action: Literal["accept", "reject"] = "accept",
    ) -> builtins.list[str]:
        """Decide held changes of an integration's ``tools`` (None: all of them); the name
        ``@integration`` decides the held change to its authority settings.

        ``accept`` serves the proposed definitions (an added tool becomes callable) and
        settings. ``reject`` keeps the reviewed ones (an added tool stays out) and remembers
        the rejected proposal, so later refreshes that find it again do not hold it again.
        Returns the names decided; raises ``not_found`` for a name with no pending review.
        """
        names = [tools] if isinstance(tools, str) else tools
        plan = await self._ex.store.update_tools(
            self._ex.workspace_id, slug, plan_review(names, action)
        )
        self._ex.catalog_changed()
        return list(plan.report)

    async def remove(self, slug: str) -> None:
        """Remove an integration with its connections and tools."""
        ex = self._ex
        for connection in await ex.store.list_connections(ex.workspace_id, slug):
            await ex.connections.remove(slug, connection.name)
        if not await ex.store.delete_integration(ex.workspace_id, slug):
            raise NotFoundError(f"No integration named {slug!r}.")
        ex.catalog_changed()


def _plugin_progress(progress: Progress | None) -> Progress | None:
    """A plugin's progress reports in the executor's stages.

    A plugin may report building its tools as ``index``; for the executor that is still
    reading the source (``parse``), and ``index`` is writing the tools into the catalog and
    its search index — the part that takes longest for a big source.
    """
    if progress is None:
        return None

    def report(stage: str, done: int, total: int | None) -> None:
        progress("parse" if stage == "index" else stage, done, total)

    return report


def _index_progress(progress: Progress | None) -> Callable[[int, int], None] | None:
    """The store's (tools written, total) reports as the ``index`` stage."""
    if progress is None:
        return None
    return lambda done, total: progress("index", done, total)


def _given_source(
    config: SourceConfig | None,
    source: str | Mapping[str, Any] | None,
    base_url: str | None,
    options: Mapping[str, Any] | None,
    kind: str | None,
) -> SourceConfig:
    """The one source config that ``Sources.add``'s arguments name."""
    if config is not None:
        if source is not None or base_url is not None or options is not None:
            raise InvalidInputError(
                "Both a config and a source were given.",
                hint="Pass either config=SourceConfig(...) or source= (with base_url, options).",
            )
        return config
    if source is not None:
        return source_config(source, base_url=base_url, options=options)
    if options and kind is not None:
        return SourceConfig(base_url=base_url, options=dict(options))
    raise InvalidInputError(
        "No source was given.",
        hint="Pass source= (a URL, a file path or the document), or kind= with options=.",
    )


def _choose_kind(
    candidates: list[Detection], config: SourceConfig, kinds: list[str]
) -> tuple[str, SourceConfig]:
    """The most confident detected kind, with the options its plugin suggested."""
    if not candidates or candidates[0].confidence < CONFIDENT:
        found = f" Candidates: {describe_candidates(candidates)}." if candidates else ""
        raise InvalidInputError(
            f"Could not tell what kind of source this is.{found}",
            hint=f"Name the kind: one of {', '.join(kinds) or 'none installed'}.",
            details={"candidates": [asdict(candidate) for candidate in candidates]},
        )
    best = candidates[0]
    if best.options:
        config = replace(config, options={**best.options, **config.options})
    return best.kind, config


def _check_review_mode(mode: str) -> ReviewMode:
    if mode not in REVIEW_MODES:
        raise InvalidInputError(
            f"Unknown review mode {mode!r}.", hint=f"Use one of {', '.join(REVIEW_MODES)}."
        )
    return mode


class Connections(_Part):
    """Create, list and remove connections (``ex.connections``)."""

    async def create(
        self,
        integration: str,
        name: str = "default",
        *,
        auth: Mapping[str, Any] | None = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        server_variables: Mapping[str, str] | None = None,
        timeout: float | None = None,
        personal: bool = False,
    ) -> Connection:
        """Create a connection to an integration.

        ``auth`` names the auth method and its secrets, e.g. ``{"type": "bearer", "token":
        "env://GITHUB_TOKEN"}``. A secret given as a plain value instead of a reference
        (``secret://…``, ``env://…``) is stored in the encrypted store and replaced by a
        reference; the connection itself never holds a value. ``personal`` makes the
        connection belong to the current user instead of the workspace.
        """
        ex = self._ex
        check_slug(name, "Connection name")
        found = await ex.sources.get(integration)
        if await ex.store.get_connection(ex.workspace_id, integration, name) is not None:
            raise AlreadyExistsError(
                f"{integration} already has a connection named {name!r}.",
                hint=f"Remove it first with connections.remove('{integration}', '{name}').",
            )
        normalized = normalize_auth(dict(auth or {"type": "none"}), found.auth_methods)
        settings: dict[str, Any] = {}
        if base_url:
            settings["base_url"] = base_url
        if headers:
            settings["headers"] = _plain_headers(headers)
        if server_variables:
            settings["server_variables"] = dict(server_variables)
        if timeout:
            settings["timeout"] = float(timeout)
        stored, secret_names = await self._store_plain_secrets(integration, name, normalized)
        try:
            connection = await ex.store.create_connection(
                ex.workspace_id,
                integration=integration,
                name=name,
                auth=stored,
                settings=settings,
                user_id=ex.user_id if personal else None,
            )
        except BaseException:
            # Lost a race for the name, or the database failed: keep no orphaned secrets.
            with anyio.CancelScope(shield=True):
                for secret_name in secret_names:
                    await ex.secret_store.delete(secret_name)
            raise
        ex.catalog_changed()
        return connection

    async def _store_plain_secrets(
        self, integration: str, name: str, auth: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Move plain secret values into the encrypted store; keep only their references.

        Each connection's secrets get a fresh folder, so two concurrent creates of the same
        name never overwrite each other's values. Returns the auth config to store and the
        names of the secrets written.
        """
        resolver = self._ex.secret_resolver
        folder = f"connections/{integration}/{name}/{uuid.uuid4().hex[:12]}"
        references: dict[str, str] = {}
        for index, (pointer, value) in enumerate(sorted(secret_fields(auth).items())):
            if resolver.is_reference(value):
                continue
            # The index keeps names distinct when sanitising maps two fields onto one.
            field = re.sub(r"[^A-Za-z0-9_.\-]", "_", pointer.strip("/"))[:24]
            references[pointer] = await self._ex.secret_store.put(
                f"{folder}/{index}_{field}", value
            )
        names = [reference.removeprefix("secret://") for reference in references.values()]
        return (replace_fields(auth, references) if references else auth), names

    async def list(self, integration: str | None = None) -> list[Connection]:
        """Connections, optionally of one integration, each with its ``health`` as of the
        calls answered so far (see docs/sources.md, "Connection health")."""
        await self._ex.audit.flush()  # the health changes of calls already answered
        return await self._ex.store.list_connections(self._ex.workspace_id, integration)

    async def remove(self, integration: str, name: str) -> None:
        """Remove a connection and the secrets that were stored for it."""
        ex = self._ex
        connection = await ex.store.get_connection(ex.workspace_id, integration, name)
        if connection is None:
            raise NotFoundError(f"{integration} has no connection named {name!r}.")
        await ex.store.delete_connection(ex.workspace_id, integration, name)
        prefix = f"connections/{integration}/{name}/"
        for secret_name in await ex.secret_store.names():
            if secret_name.startswith(prefix):
                await ex.secret_store.delete(secret_name)
        await ex._close_clients(connection.id)
        ex.catalog_changed()


class Tools(_Part):
    """List, search and describe tools (``ex.tools``)."""

    async def _as_tools(
        self, stored: list[StoredTool], *, include_blocked: bool = False
    ) -> list[Tool]:
        ex = self._ex
        connections = await ex.connection_names()
        policies = await ex.policy_set()
        toolkit = current_toolkit(ex.workspace_id)
        tools = []
        for item in stored:
            definition = item.definition
            for name in connections.get(item.integration, []):
                address = f"{item.integration}.{name}.{definition.name}"
                if toolkit is not None and not contains(toolkit, address):
                    continue
                action = policies.decide(address, definition.default_policy).action
                if action == "block" and not include_blocked:
                    continue
                tools.append(_tool(address, item.integration, name, definition, action))
        return tools

    async def list(
        self,
        integration: str | None = None,
        *,
        connection: str | None = None,
        include_blocked: bool = False,
    ) -> list[Tool]:
        """Tools per connection, with their effective policy. Blocked tools are hidden."""
        await self._ex.check_catalog()
        stored = await self._ex.store.list_tool_definitions(self._ex.workspace_id, integration)
        tools = await self._as_tools(stored, include_blocked=include_blocked)
        if connection is not None:
            tools = [tool for tool in tools if tool.connection == connection]
        return tools

    async def search(
        self, query: str, *, integration: str | None = None, limit: int = 10
    ) -> SearchResults:
        """Tools ranked by relevance to ``query``; ``is_good_match`` is False when nothing
        fits well. Blocked tools never appear."""
        ex = self._ex
        if not query.strip():
            raise InvalidInputError(
                "The search query is empty.", hint="Describe what you want to do."
            )
        await self._ex.check_catalog()
        limit = max(1, min(int(limit), 100))
        matches, is_good = await ex.store.search_tools_scored(
            ex.workspace_id, query, integration=integration, limit=limit * 3
        )
        scores = {(match.integration, match.name): match.score for match in matches}
        stored = await ex.store.get_tool_definitions(ex.workspace_id, list(scores))
        hits = [
            SearchHit(tool=tool, score=scores[(tool.integration, tool.name)])
            for tool in await self._as_tools(stored)
        ]
        return SearchResults(hits=tuple(hits[:limit]), is_good_match=is_good and bool(hits))

    async def _definition(self, address: str) -> tuple[str, ToolDefinition, PolicyAction]:
        await self._ex.check_catalog()
        resolved = await self._ex.pipeline.resolve(address)
        decision = await self._ex.pipeline.decide(resolved)
        return resolved.address, resolved.definition, decision.action

    async def schema(self, address: str) -> dict[str, Any]:
        """The input JSON Schema of a tool."""
        _, definition, _ = await self._definition(address)
        return definition.input_schema

    async def describe(self, address: str) -> dict[str, Any]:
        """Everything an agent needs to call a tool: the complete description, the input and
        output schemas, the effective policy and annotations."""
        canonical, definition, action = await self._definition(address)
        return _described(canonical, definition, action)

    async def describe_all(self) -> _Descriptions:
        """:meth:`describe` of every visible tool (blocked ones hidden), in catalog order: what
        a surface needs to serve each tool on its own (MCP's direct mode)."""
        ex = self._ex
        await ex.check_catalog()
        stored = await ex.store.list_tool_definitions(ex.workspace_id)
        definitions = {(item.integration, item.definition.name): item.definition for item in stored}
        return [
            _described(tool.address, definitions[(tool.integration, tool.name)], tool.policy)
            for tool in await self._as_tools(stored)
        ]


_Descriptions = list[dict[str, Any]]


def _described(address: str, definition: ToolDefinition, action: PolicyAction) -> dict[str, Any]:
    return {
        "address": address,
        "summary": definition.summary,
        "description": definition.description,
        "input_schema": definition.input_schema,
        "output_schema": definition.output_schema,
        "tags": list(definition.tags),
        "policy": action,
        "is_read_only": definition.is_read_only,
        "is_destructive": definition.is_destructive,
    }


def _tool(
    address: str,
    integration: str,
    connection: str,
    definition: ToolDefinition,
    action: PolicyAction,
) -> Tool:
    return Tool(
        address=address,
        integration=integration,
        connection=connection,
        name=definition.name,
        summary=definition.summary,
        description=definition.description,
        tags=definition.tags,
        default_policy=definition.default_policy,
        is_read_only=definition.is_read_only,
        is_destructive=definition.is_destructive,
        policy=action,
    )


class Policies(_Part):
    """Ordered policy rules (``ex.policies``)."""

    async def set(
        self,
        pattern: str,
        action: PolicyAction,
        *,
        scope: PolicyScope = "workspace",
        position: int | None = None,
    ) -> Policy:
        """Add a rule: tools whose address matches ``pattern`` get ``action``.

        Patterns: ``*``, an exact address, ``github.*`` (a subtree) or ``github.*.issues.create``
        (``*`` as one segment). Rules are ordered (``position``, default last); the first match
        of each scope counts and the most restrictive scope wins.
        """
        if action not in POLICY_ACTIONS:
            raise InvalidInputError(
                f"Unknown policy action {action!r}.",
                hint=f"Use one of {', '.join(POLICY_ACTIONS)}.",
            )
        if scope not in ("workspace", "user"):
            raise InvalidInputError(
                f"Unknown policy scope {scope!r}.", hint="Use workspace or user."
            )
        ex = self._ex
        policy = await ex.store.add_policy(
            ex.workspace_id,
            scope=scope,
            pattern=check_pattern(pattern),
            action=action,
            user_id=ex.user_id if scope == "user" else None,
            position=position,
        )
        ex.catalog_changed()
        return policy

    async def list(self) -> list[Policy]:
        """Every rule, by scope and position."""
        return await self._ex.store.list_policies(self._ex.workspace_id)

    async def remove(self, policy_id: str) -> None:
        """Remove a rule by id."""
        if not await self._ex.store.delete_policy(self._ex.workspace_id, policy_id):
            raise NotFoundError(
                f"No policy with id {policy_id!r}.", hint="List them with policies.list()."
            )
        self._ex.catalog_changed()


class Secrets(_Part):
    """Named secrets in the encrypted store (``ex.secrets``). Values are write-only."""

    async def set(self, name: str, value: str) -> str:
        """Store (or replace) a secret; returns its reference, e.g. ``secret://github_token``."""
        if not value:
            raise InvalidInputError("A secret value cannot be empty.")
        return await self._ex.secret_store.put(name, value)

    async def list(self) -> list[str]:
        """Names of the stored secrets (never their values)."""
        return await self._ex.secret_store.names()

    async def remove(self, name: str) -> None:
        """Delete a stored secret."""
        if not await self._ex.secret_store.delete(name):
            raise NotFoundError(f"No secret named {name!r}.")


class Runs(_Part):
    """The run history, an audit log of every call (``ex.runs``)."""

    async def list(self, *, limit: int = 50, status: str | None = None) -> list[RunRecord]:
        """The newest runs first, each with its tool calls (arguments redacted); only those
        with ``status`` when given (``"paused"``: the executions awaiting an answer). Paused
        executions past their expiry show as ``expired``."""
        await self._ex.audit.flush()
        await self._ex.store.expire_executions(self._ex.workspace_id)
        return await self._ex.store.list_runs(self._ex.workspace_id, limit=limit, status=status)

    async def get(self, run_id: str) -> RunRecord:
        """One run by id; raises ``not_found`` when there is none."""
        await self._ex.audit.flush()
        await self._ex.store.expire_executions(self._ex.workspace_id)
        run = await self._ex.store.get_run(self._ex.workspace_id, run_id)
        if run is None:
            raise NotFoundError(f"No run with id {run_id!r}.", hint="List them with runs.list().")
        return run
