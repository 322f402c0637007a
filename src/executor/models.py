"""Domain values shared by the core, the store and the source plugins.

One frozen dataclass per concept (PRODUCT.md §1). JSON Schemas stay plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

PolicyAction = Literal["allow", "require_approval", "block"]
POLICY_ACTIONS: tuple[PolicyAction, ...] = ("allow", "require_approval", "block")

PolicyScope = Literal["workspace", "user", "toolkit"]

ReviewMode = Literal["serve_reviewed", "block"]
REVIEW_MODES: tuple[ReviewMode, ...] = ("serve_reviewed", "block")

ConnectionStatus = Literal["unknown", "ok", "needs_auth", "unreachable", "error"]
CONNECTION_STATUSES: tuple[ConnectionStatus, ...] = (
    "unknown",
    "ok",
    "needs_auth",
    "unreachable",
    "error",
)

AuthType = Literal["none", "api_key", "bearer", "basic", "custom_headers", "oauth2"]
ApiKeyLocation = Literal["header", "query", "cookie"]


@dataclass(frozen=True)
class AuthMethod:
    """One way an integration accepts credentials, usually derived from the spec.

    ``id`` is a stable identifier (the spec's security-scheme name as an identifier, or the
    ``type`` for generic methods). For ``api_key``, ``location`` and ``name`` say where the key
    goes. ``oauth2`` methods carry their flows and scopes in ``extras`` (the flow itself arrives
    with a later release; a bearer token can stand in meanwhile).
    """

    id: str
    type: AuthType
    location: ApiKeyLocation | None = None
    name: str | None = None
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolDefinition:
    """One operation as a source plugin produces it, stored once per integration.

    ``name`` is the dotted tool name (``issues.create``); ``summary`` is one trimmed line for
    listings and ``description`` the complete text for ``describe``. ``binding`` is the
    plugin's private, JSON-serialisable recipe for calling the operation.
    """

    name: str
    summary: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    default_policy: PolicyAction = "allow"
    is_read_only: bool = False
    is_destructive: bool = False
    binding: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Integration:
    """One API surface in the catalog (an OpenAPI spec, …), identified by ``slug``."""

    id: str
    workspace_id: str
    slug: str
    kind: str
    title: str
    summary: str
    config: dict[str, Any]
    auth_methods: tuple[AuthMethod, ...]
    tool_count: int
    created_at: datetime
    updated_at: datetime
    #: Whether a refresh holds new and changed tools for a person's review (docs/sources.md).
    review_changes: bool = False
    #: What a changed tool does while held: ``serve_reviewed`` keeps serving the definition a
    #: person last reviewed; ``block`` makes it uncallable until reviewed.
    review_mode: ReviewMode = "serve_reviewed"


@dataclass(frozen=True)
class ConnectionHealth:
    """What the calls through a connection last showed (docs/sources.md, "Connection health").

    ``status``: ``unknown`` (no call yet), ``ok``, ``needs_auth`` (credentials missing or
    refused), ``unreachable`` (no answer in time) or ``error`` (the upstream failed).
    ``last_error`` says why, in one line with secrets redacted; ``checked_at`` is when the
    status was recorded (it is written when it changes).
    """

    status: ConnectionStatus = "unknown"
    last_error: str | None = None
    checked_at: datetime | None = None


@dataclass(frozen=True)
class Connection:
    """A configured instance of an integration: an account such as ``work`` or ``default``.

    ``auth`` holds the auth method and *references* to secrets (``secret://…``, ``env://…``),
    never their values. ``user_id`` is set for a connection personal to one user.
    """

    id: str
    workspace_id: str
    integration: str
    name: str
    auth: dict[str, Any]
    settings: dict[str, Any]
    user_id: str | None
    created_at: datetime
    health: ConnectionHealth = field(default_factory=ConnectionHealth)


@dataclass(frozen=True)
class Tool:
    """A tool as listed for one connection: its address and what an agent needs to pick it."""

    address: str
    integration: str
    connection: str
    name: str
    summary: str
    description: str
    tags: tuple[str, ...]
    default_policy: PolicyAction
    is_read_only: bool
    is_destructive: bool
    policy: PolicyAction = "allow"


@dataclass(frozen=True)
class Policy:
    """A rule: tool addresses matching ``pattern`` get ``action``. Lower ``position`` first."""

    id: str
    workspace_id: str
    scope: PolicyScope
    pattern: str
    action: PolicyAction
    position: int
    user_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ToolkitPolicy:
    """A rule that applies only to calls made through one toolkit."""

    pattern: str
    action: PolicyAction


@dataclass(frozen=True)
class Toolkit:
    """A named subset of the catalog: the tools whose address matches one of ``patterns``
    (policy pattern syntax), with ``policies`` applied on top of the workspace's rules (the
    most restrictive wins). Served to agents at ``/mcp/toolkits/<slug>``."""

    id: str
    workspace_id: str
    slug: str
    description: str
    patterns: tuple[str, ...]
    policies: tuple[ToolkitPolicy, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SearchHit:
    """One search result: a tool, its relevance score (higher is better)."""

    tool: Tool
    score: float


@dataclass(frozen=True)
class SearchResults:
    """Ranked hits plus whether any of them is a good match for the query."""

    hits: tuple[SearchHit, ...]
    is_good_match: bool


@dataclass(frozen=True)
class ToolChange:
    """One tool that a refresh added, changed or removed."""

    name: str
    change: Literal["added", "changed", "removed"]


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh did to an integration's catalog.

    ``added``, ``changed`` and ``removed`` compare the source with what was known before the
    refresh; ``held`` names every tool now waiting for a person's review (see
    :class:`ToolReview`), and ``@integration`` when the integration's own settings wait too
    (:class:`IntegrationReview`); ``tool_count`` counts the tools served.
    """

    integration: str
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    tool_count: int
    held: tuple[str, ...] = ()


#: The parts of a tool definition a review compares, in the order they are reported.
DEFINITION_FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "input_schema",
    "output_schema",
    "tags",
    "default_policy",
    "is_read_only",
    "is_destructive",
    "binding",
)


@dataclass(frozen=True)
class ToolReview:
    """A tool change that a refresh held for a person's review instead of serving it.

    ``change`` is ``added`` (a tool the source did not have) or ``changed`` (its definition
    differs from the one a person last reviewed, ``reviewed``). ``proposed`` is what the source
    now declares. A ``pending`` review waits for a decision; a ``rejected`` one is remembered so
    the same definition is not proposed again.
    """

    integration: str
    name: str
    change: Literal["added", "changed"]
    status: Literal["pending", "rejected"]
    reviewed: ToolDefinition | None
    proposed: ToolDefinition
    held_at: datetime

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """The definition fields that differ between ``reviewed`` and ``proposed``."""
        if self.reviewed is None:
            return DEFINITION_FIELDS
        return tuple(
            name
            for name in DEFINITION_FIELDS
            if getattr(self.reviewed, name) != getattr(self.proposed, name)
        )


#: The name under which a review holds a change to the integration itself (its authority
#: settings) next to its tools' changes. Tool names are identifiers: none can take it.
INTEGRATION_REVIEW = "@integration"


@dataclass(frozen=True)
class IntegrationSettings:
    """The authority-relevant settings of an integration, as a review compares them.

    ``config`` holds the stored source config minus the keys its plugin lists as
    ``unreviewed_config`` (bookkeeping such as a schema digest or the server's version): what
    remains decides where calls go and how (base URL, endpoint, servers, an MCP server's command
    or URL, …). ``auth_methods`` are the ways the integration takes credentials. Title and
    summary are not among them: they apply without review.
    """

    config: dict[str, Any]
    auth_methods: tuple[AuthMethod, ...]

    def changed_from(self, other: IntegrationSettings) -> tuple[str, ...]:
        """What differs from ``other``: ``config.<key>`` for each config key, then
        ``auth_methods``."""
        keys = sorted(self.config.keys() | other.config.keys())
        changed = [f"config.{key}" for key in keys if self.config.get(key) != other.config.get(key)]
        if self.auth_methods != other.auth_methods:
            changed.append("auth_methods")
        return tuple(changed)


@dataclass(frozen=True)
class IntegrationReview:
    """A change to an integration's authority settings that a refresh held for review.

    Until a person accepts it, the integration keeps the ``reviewed`` settings (calls go where
    they went, new connections take the auth methods they took); ``proposed`` is what the
    source declares now. It is listed and decided with the tool reviews, under the name
    :data:`INTEGRATION_REVIEW`; a ``rejected`` one is remembered like a rejected tool change.
    """

    integration: str
    status: Literal["pending", "rejected"]
    reviewed: IntegrationSettings
    proposed: IntegrationSettings
    held_at: datetime
    name: str = INTEGRATION_REVIEW
    change: Literal["changed"] = "changed"

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """The settings that differ between ``reviewed`` and ``proposed``."""
        return self.proposed.changed_from(self.reviewed)


ExecutionStatus = Literal["running", "paused", "completed", "failed", "cancelled", "expired"]


@dataclass(frozen=True)
class Execution:
    """The state of one code-mode run after ``execute`` or ``resume`` returned.

    ``result`` is the value of the code's last expression (``completed``); ``error`` the
    failure's ``{"code", "message", ...}`` (``failed``); ``pending`` what a paused run waits for:
    ``{"address", "arguments", "reason", "summary", "asks"}``, where ``asks`` is ``approval``,
    or ``input`` with the upstream's ``message`` and the JSON ``schema`` of its form.
    """

    id: str
    status: ExecutionStatus
    result: Any = None
    logs: str = ""
    error: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    """What a human is asked to approve: the tool, a one-line summary, validated arguments."""

    address: str
    summary: str
    arguments: dict[str, Any]
    reason: str
