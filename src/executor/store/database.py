"""CONTRACT STUB — the store helper replaces the bodies; signatures are what the core calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor.models import (
    AuthMethod,
    Connection,
    Integration,
    Policy,
    PolicyAction,
    PolicyScope,
    ToolDefinition,
)


@dataclass(frozen=True)
class StoredTool:
    """A tool definition as stored for one integration (schemas included)."""

    integration_id: str
    integration: str  # slug
    definition: ToolDefinition


@dataclass(frozen=True)
class ToolMatch:
    """A search match over tool definitions (per integration, not per connection)."""

    integration: str
    name: str
    score: float  # higher is better


class Store:
    """Async access to the database. Every method is one transaction."""

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None) -> Store:
        """Connect, migrate to the newest schema (Alembic), return the store.

        ``url`` is an SQLAlchemy async URL: ``sqlite+aiosqlite:///path`` or
        ``postgresql+asyncpg://…``. ``schema`` (PostgreSQL only) puts every table in that
        schema, created if missing — tests use one schema per test.
        """
        raise NotImplementedError

    async def close(self) -> None: ...

    # workspaces and users
    async def ensure_local_workspace(self) -> tuple[str, str]:
        """Create (once) and return ``(workspace_id, user_id)`` of local single-user mode."""
        raise NotImplementedError

    # integrations and their tools
    async def create_integration(
        self,
        workspace_id: str,
        *,
        slug: str,
        kind: str,
        title: str,
        summary: str,
        config: dict[str, Any],
        spec: bytes | None,
        auth_methods: list[AuthMethod],
        tools: list[ToolDefinition],
    ) -> Integration:
        """Insert the integration, its tools and their search index rows in one transaction.

        Raises AlreadyExistsError when the slug is taken in the workspace.
        """
        raise NotImplementedError

    async def replace_integration(
        self,
        workspace_id: str,
        slug: str,
        *,
        title: str,
        summary: str,
        config: dict[str, Any],
        spec: bytes | None,
        auth_methods: list[AuthMethod],
        tools: list[ToolDefinition],
    ) -> Integration:
        """Refresh: replace config, spec, auth methods and the whole tool set atomically."""
        raise NotImplementedError

    async def get_integration(self, workspace_id: str, slug: str) -> Integration | None:
        raise NotImplementedError

    async def list_integrations(self, workspace_id: str) -> list[Integration]:
        raise NotImplementedError

    async def delete_integration(self, workspace_id: str, slug: str) -> bool:
        """Delete the integration with its connections, tools and index rows."""
        raise NotImplementedError

    async def load_spec(self, workspace_id: str, slug: str) -> bytes | None:
        """The stored (decompressed) source document."""
        raise NotImplementedError

    async def list_tool_definitions(
        self, workspace_id: str, integration: str | None = None
    ) -> list[StoredTool]:
        """Tool definitions, ordered by (integration slug, name)."""
        raise NotImplementedError

    async def get_tool_definition(
        self, workspace_id: str, integration: str, name: str
    ) -> StoredTool | None:
        raise NotImplementedError

    async def tool_names(self, workspace_id: str) -> list[tuple[str, str]]:
        """Every ``(integration slug, tool name)`` in the workspace (cheap; for suggestions)."""
        raise NotImplementedError

    async def search_tools(
        self,
        workspace_id: str,
        query: str,
        *,
        integration: str | None = None,
        limit: int = 10,
    ) -> list[ToolMatch]:
        """Full-text search with field weights (name, tags > summary > description)."""
        raise NotImplementedError

    # connections
    async def create_connection(
        self,
        workspace_id: str,
        *,
        integration: str,
        name: str,
        auth: dict[str, Any],
        settings: dict[str, Any],
        user_id: str | None,
    ) -> Connection:
        raise NotImplementedError

    async def list_connections(
        self, workspace_id: str, integration: str | None = None
    ) -> list[Connection]:
        raise NotImplementedError

    async def get_connection(
        self, workspace_id: str, integration: str, name: str
    ) -> Connection | None:
        raise NotImplementedError

    async def delete_connection(self, workspace_id: str, integration: str, name: str) -> bool:
        raise NotImplementedError

    # policies
    async def add_policy(
        self,
        workspace_id: str,
        *,
        scope: PolicyScope,
        pattern: str,
        action: PolicyAction,
        user_id: str | None,
        position: int | None,
    ) -> Policy:
        """Insert a rule at ``position`` (None: last in its scope); later rules shift down."""
        raise NotImplementedError

    async def list_policies(self, workspace_id: str) -> list[Policy]:
        """All rules, ordered by scope then position."""
        raise NotImplementedError

    async def delete_policy(self, workspace_id: str, policy_id: str) -> bool:
        raise NotImplementedError

    # encrypted secrets (ciphertext only; the secrets package encrypts)
    async def put_secret(self, workspace_id: str, name: str, ciphertext: bytes) -> None:
        """Insert or replace."""
        raise NotImplementedError

    async def get_secret(self, workspace_id: str, name: str) -> bytes | None:
        raise NotImplementedError

    async def list_secret_names(self, workspace_id: str) -> list[str]:
        raise NotImplementedError

    async def delete_secret(self, workspace_id: str, name: str) -> bool:
        raise NotImplementedError

    # runs (the audit log; code mode extends these later)
    async def record_call(
        self,
        workspace_id: str,
        *,
        run_id: str,
        caller: str,
        address: str,
        arguments: dict[str, Any],
        decision: str,
        outcome: str,
        duration_ms: float,
    ) -> None:
        """Store one direct call as a completed run with one tool-call row."""
        raise NotImplementedError
