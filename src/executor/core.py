"""The core object every surface drives: :class:`Executor` and its sub-APIs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2

from executor.addresses import check_slug
from executor.audit import AuditWriter
from executor.auth import normalize_auth, replace_fields, secret_fields
from executor.calls import ApprovalCallback, CallPipeline
from executor.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from executor.executions import DEFAULT_TTL, Executions, ResumeAction
from executor.models import (
    POLICY_ACTIONS,
    Connection,
    Execution,
    Integration,
    Policy,
    PolicyAction,
    PolicyScope,
    RefreshReport,
    SearchHit,
    SearchResults,
    Tool,
    ToolDefinition,
)
from executor.policy import PolicySet, check_pattern
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
    FetchPolicy,
    PluginRegistry,
    Progress,
    SourceBundle,
    SourceConfig,
    SourcePlugin,
)
from executor.sources.fetch import guarded_client, warm_up_tls
from executor.store import RunRecord, Store, StoredTool, definition_hash


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
        self._catalog_version: int | None = None
        self._catalog_checked = -math.inf
        self._addresses: list[str] | None = None
        self.sources = Sources(self)
        self.connections = Connections(self)
        self.tools = Tools(self)
        self.policies = Policies(self)
        self.secrets = Secrets(self)
        self.runs = Runs(self)
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
    ) -> AsyncIterator[Executor]:
        """Open the catalog (migrating the database if needed) and close it on exit.

        With no arguments it uses the embedded SQLite database in the data dir
        (``EXECUTOR_DATA_DIR``, default ``~/.executor``), or ``EXECUTOR_DATABASE_URL``.
        ``on_approval`` decides calls that need approval; without it they return an
        ``approval_required`` error.
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
            try:
                tasks.start_soon(executor.audit.run)
                # Off the loop and off the first call's path: the CA bundle takes ~30 ms and
                # the plugins' imports ~10 ms each.
                tasks.start_soon(anyio.to_thread.run_sync, warm_up_tls)
                tasks.start_soon(anyio.to_thread.run_sync, executor.plugins.load_all)
                yield executor
            finally:
                executor.audit.close()
                try:
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

    async def call(self, address: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """Call a tool and return its result envelope (PRODUCT.md §1.2); never raises for
        expected failures: check ``result["ok"]``."""
        return await self.pipeline.call(address, arguments)

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
                timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
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
        """Every policy rule, cached until a policy changes."""
        if self._rules is None:
            self._rules = await self.store.list_policies(self.workspace_id)
        return self._rules

    async def addresses(self, *, include_blocked: bool = False) -> list[str]:
        """Every tool address, cached until the catalog changes. Blocked tools are hidden
        everywhere, suggestions included, unless ``include_blocked``."""
        if self._addresses is None:
            names = await self.store.tool_names(self.workspace_id)
            connections: dict[str, list[str]] = {}
            for connection in await self.store.list_connections(self.workspace_id):
                connections.setdefault(connection.integration, []).append(connection.name)
            self._addresses = [
                f"{slug}.{conn}.{name}"
                for slug, name in names
                for conn in connections.get(slug, [])
            ]
        if include_blocked:
            return self._addresses
        policies = PolicySet(await self.policy_rules(), user_id=self.user_id)
        return [a for a in self._addresses if policies.decide(a, "allow").action != "block"]

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
        """Drop every cache that depends on the catalog, connections or policies."""
        self._rules = None
        self._addresses = None
        self.pipeline.invalidate()


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
    record.pop("text", None)
    return record


def _source_config(spec: str | Mapping[str, Any], base_url: str | None) -> SourceConfig:
    """Tell a URL, a local file and inline text apart."""
    if isinstance(spec, Mapping):
        return SourceConfig(text=json.dumps(spec), base_url=base_url)
    stripped = spec.strip()
    if stripped.startswith(("http://", "https://")) and "\n" not in stripped:
        return SourceConfig(url=stripped, base_url=base_url)
    if "\n" not in stripped and not stripped.startswith(("{", "[")) and len(stripped) < 4096:
        path = Path(stripped).expanduser()
        if path.exists():
            return SourceConfig(path=str(path.resolve()), base_url=base_url)
        if stripped.endswith((".json", ".yaml", ".yml")) or os.sep in stripped:
            raise InvalidInputError(
                f"Spec file {stripped!r} does not exist.",
                hint="Pass a URL, an existing file path, or the spec text itself.",
            )
    return SourceConfig(text=spec, base_url=base_url)


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
        return await self.add(slug, "openapi", _source_config(spec, base_url), progress=progress)

    async def add(
        self, slug: str, kind: str, config: SourceConfig, *, progress: Progress | None = None
    ) -> Integration:
        """Add an integration of any installed source kind. Nothing is stored if loading fails."""
        ex = self._ex
        check_slug(slug, "Integration slug")
        if await ex.store.get_integration(ex.workspace_id, slug) is not None:
            raise AlreadyExistsError(
                f"An integration named {slug!r} exists already.",
                hint=f"Refresh it with sources.refresh('{slug}') or pick another slug.",
            )
        bundle = await self._load(kind, config, progress)
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

    async def _load(
        self, kind: str, config: SourceConfig, progress: Progress | None
    ) -> SourceBundle:
        plugin = self._ex.plugins.get(kind)
        return await plugin.load(config, fetch_policy=self._ex.fetch_policy, progress=progress)

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

        If the source can no longer be read, the error is raised and the catalog is untouched.
        """
        ex = self._ex
        integration = await self.get(slug)
        config = SourceConfig.from_json(integration.config.get("source", {}))
        if config.url is None and config.path is None:
            # Added from inline text: the document itself is the stored spec.
            spec = await ex.store.load_spec(ex.workspace_id, slug) or b""
            config = replace(config, text=spec.decode("utf-8", "replace"))
        before = await ex.store.tool_hashes(ex.workspace_id, slug)
        bundle = await self._load(integration.kind, config, progress)
        after = {tool.name: definition_hash(tool) for tool in bundle.tools}
        await ex.store.replace_integration(
            ex.workspace_id,
            slug,
            title=bundle.title,
            summary=bundle.summary,
            config={**bundle.config, "source": _source_record(config)},
            spec=bundle.spec,
            auth_methods=bundle.auth_methods,
            tools=bundle.tools,
        )
        ex.catalog_changed()
        return RefreshReport(
            integration=slug,
            added=tuple(sorted(after.keys() - before.keys())),
            changed=tuple(
                sorted(name for name in after.keys() & before.keys() if after[name] != before[name])
            ),
            removed=tuple(sorted(before.keys() - after.keys())),
            tool_count=len(after),
        )

    async def remove(self, slug: str) -> None:
        """Remove an integration with its connections and tools."""
        ex = self._ex
        for connection in await ex.store.list_connections(ex.workspace_id, slug):
            await ex.connections.remove(slug, connection.name)
        if not await ex.store.delete_integration(ex.workspace_id, slug):
            raise NotFoundError(f"No integration named {slug!r}.")
        ex.catalog_changed()


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
        """Connections, optionally of one integration."""
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
        connections: dict[str, list[Connection]] = {}
        for connection in await ex.store.list_connections(ex.workspace_id):
            connections.setdefault(connection.integration, []).append(connection)
        policies = PolicySet(await ex.policy_rules(), user_id=ex.user_id)
        tools = []
        for item in stored:
            definition = item.definition
            for connection in connections.get(item.integration, []):
                address = f"{item.integration}.{connection.name}.{definition.name}"
                action = policies.decide(address, definition.default_policy).action
                if action == "block" and not include_blocked:
                    continue
                tools.append(_tool(address, item.integration, connection.name, definition, action))
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
        return {
            "address": canonical,
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

    async def list(self, *, limit: int = 50) -> list[RunRecord]:
        """The newest runs first, each with its tool calls (arguments redacted). Paused
        executions past their expiry show as ``expired``."""
        await self._ex.audit.flush()
        await self._ex.store.expire_executions(self._ex.workspace_id)
        return await self._ex.store.list_runs(self._ex.workspace_id, limit=limit)

    async def get(self, run_id: str) -> RunRecord:
        """One run by id; raises ``not_found`` when there is none."""
        await self._ex.audit.flush()
        await self._ex.store.expire_executions(self._ex.workspace_id)
        run = await self._ex.store.get_run(self._ex.workspace_id, run_id)
        if run is None:
            raise NotFoundError(f"No run with id {run_id!r}.", hint="List them with runs.list().")
        return run
