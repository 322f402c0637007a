"""Safe refresh: what an integration serves after its source changed, or after a review.

A refresh never silently widens what an agent can do. When an integration reviews changes
(``review_changes``), a tool the source added, or a tool whose definition differs from the one
a person last reviewed, is *held*: the change is recorded as a :class:`~executor.models.ToolReview`
and is not served until someone accepts it. Meanwhile a changed tool keeps serving its reviewed
definition (mode ``serve_reviewed``) or is not served at all (mode ``block``); an added tool is
not served. Removed tools go at once: removing a tool only narrows authority.

The integration's own authority settings (:class:`~executor.models.IntegrationSettings`: its
config but for the keys its plugin declares ``unreviewed_config``, and its auth methods) are
held the same way, as one :class:`~executor.models.IntegrationReview`: the reviewed settings go
on serving (calls go where they went) until a person accepts the proposed ones. Title and
summary apply at once.

The functions here are pure planners (:data:`~executor.store.ToolPlanner`): given the state the
store read inside one transaction, they say what to serve next. The store applies the plan in
that same transaction, so a review and a refresh racing each other cannot lose a change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from executor.errors import InvalidInputError, NotFoundError
from executor.models import (
    INTEGRATION_REVIEW,
    AuthMethod,
    IntegrationReview,
    IntegrationSettings,
    RefreshReport,
    ReviewMode,
    ToolDefinition,
    ToolReview,
)
from executor.store import ToolPlan, ToolPlanner, ToolState, definition_hash, settings_hash
from executor.store.tables import utcnow


def plan_refresh(
    tools: Sequence[ToolDefinition],
    *,
    config: Mapping[str, Any],
    auth_methods: Sequence[AuthMethod],
    unreviewed_config: Collection[str] = (),
) -> ToolPlanner:
    """A planner that serves the source's new ``tools``, ``config`` and ``auth_methods``,
    holding changes when reviews are on (``unreviewed_config`` names the config keys that apply
    without review).

    Its report is a :class:`~executor.models.RefreshReport`: ``added``/``changed``/``removed``
    compare the source with what was known before (a held proposal counts as known, so a
    refresh that finds the same change again does not report it twice); ``held`` lists every
    tool waiting for review afterwards, and ``@integration`` when the settings wait too.
    """

    def planner(state: ToolState) -> ToolPlan:
        now = utcnow()
        values, settings_review = _plan_settings(
            state,
            IntegrationSettings(dict(config), tuple(auth_methods)),
            frozenset(unreviewed_config),
            now,
        )
        fresh = {tool.name: tool for tool in tools}
        fresh_hashes = {name: definition_hash(tool) for name, tool in fresh.items()}
        known = dict(state.hashes)
        known.update(
            (name, definition_hash(review.proposed)) for name, review in state.reviews.items()
        )
        serve: list[ToolDefinition] = []
        reviews: list[ToolReview] = []
        for name, tool in fresh.items():
            digest = fresh_hashes[name]
            review = state.reviews.get(name)
            if not state.review_changes:
                serve.append(tool)
                continue
            assert state.served is not None  # the store reads them when reviews are on
            reviewed = review.reviewed if review is not None else state.served.get(name)
            if reviewed is not None and definition_hash(reviewed) == digest:
                serve.append(tool)  # unchanged, or changed back to what was reviewed
                continue
            proposed_again = review is not None and definition_hash(review.proposed) == digest
            if review is not None and review.status == "rejected" and proposed_again:
                # A person said no to exactly this definition: keep serving what they reviewed.
                reviews.append(review)
                if reviewed is not None:
                    serve.append(reviewed)
                continue
            if review is not None and review.status == "pending" and proposed_again:
                held = review
            else:
                held = ToolReview(
                    integration=state.slug,
                    name=name,
                    change="added" if reviewed is None else "changed",
                    status="pending",
                    reviewed=reviewed,
                    proposed=tool,
                    held_at=now,
                )
            reviews.append(held)
            if reviewed is not None and state.review_mode == "serve_reviewed":
                serve.append(reviewed)
        report = RefreshReport(
            integration=state.slug,
            added=tuple(sorted(fresh.keys() - known.keys())),
            changed=tuple(
                sorted(
                    name
                    for name in fresh.keys() & known.keys()
                    if fresh_hashes[name] != known[name]
                )
            ),
            removed=tuple(sorted(known.keys() - fresh.keys())),
            tool_count=len(serve),
            held=tuple(
                sorted(
                    review.name
                    for review in (*reviews, settings_review)
                    if review is not None and review.status == "pending"
                )
            ),
        )
        return ToolPlan(
            serve=tuple(serve),
            reviews=tuple(reviews),
            settings_review=settings_review,
            report=report,
            values=values,
        )

    return planner


def _authority(settings: IntegrationSettings, unreviewed: frozenset[str]) -> IntegrationSettings:
    """The part of an integration's settings that a review compares."""
    config = {key: value for key, value in settings.config.items() if key not in unreviewed}
    return IntegrationSettings(config, settings.auth_methods)


def _plan_settings(
    state: ToolState, fresh: IntegrationSettings, unreviewed: frozenset[str], now: datetime
) -> tuple[dict[str, Any], IntegrationReview | None]:
    """The config and auth methods to store after a refresh, and the held settings change.

    With reviews off, or when the authority settings did not change (or changed back), the
    source's settings apply. Otherwise the reviewed authority settings stay, next to the
    source's unreviewed config keys, and the change is held (again, if it was pending; not, if
    a person rejected exactly this proposal).
    """
    proposed = _authority(fresh, unreviewed)
    reviewed = _authority(state.settings, unreviewed)
    if not state.review_changes or settings_hash(proposed) == settings_hash(reviewed):
        return {"config": fresh.config, "auth_methods": list(fresh.auth_methods)}, None
    kept = {key: value for key, value in fresh.config.items() if key in unreviewed}
    values = {
        "config": {**kept, **reviewed.config},
        "auth_methods": list(reviewed.auth_methods),
    }
    review = state.settings_review
    if review is not None and settings_hash(review.proposed) == settings_hash(proposed):
        return values, review
    held = IntegrationReview(
        integration=state.slug,
        status="pending",
        reviewed=reviewed,
        proposed=proposed,
        held_at=now,
    )
    return values, held


def plan_review(names: Iterable[str] | None, action: str) -> ToolPlanner:
    """A planner that decides pending reviews: ``accept`` serves the proposed definitions (or
    settings, for ``@integration``), ``reject`` keeps the reviewed ones (and remembers the
    rejected proposal so the same change is not held again). ``names`` None means every
    pending review. Its report is the sorted tuple of the names decided."""
    if action not in ("accept", "reject"):
        raise InvalidInputError(f"Unknown review action {action!r}.", hint="Use accept or reject.")
    wanted = None if names is None else sorted(set(names))

    def planner(state: ToolState) -> ToolPlan:
        pending = {name for name, review in state.reviews.items() if review.status == "pending"}
        settings_review = state.settings_review
        if settings_review is not None and settings_review.status == "pending":
            pending.add(INTEGRATION_REVIEW)
        targets = sorted(pending) if wanted is None else wanted
        missing = [name for name in targets if name not in pending]
        if missing:
            listed = ", ".join(sorted(pending)[:10]) or "none"
            raise NotFoundError(
                f"{state.slug} has no pending review for {', '.join(map(repr, missing[:5]))}.",
                hint=f"Pending reviews of {state.slug}: {listed}.",
            )
        values: dict[str, Any] = {}
        if settings_review is not None and INTEGRATION_REVIEW in targets:
            if action == "accept":
                values = _accepted(state.settings, settings_review)
                settings_review = None
            else:
                settings_review = replace(settings_review, status="rejected")
        tool_names = [name for name in targets if name != INTEGRATION_REVIEW]
        reviews = dict(state.reviews)
        serve: tuple[ToolDefinition, ...] | None = None
        if tool_names:
            assert state.served is not None  # the store reads them when anything is held
            served = dict(state.served)
            for name in tool_names:
                review = reviews[name]
                if action == "accept":
                    served[name] = review.proposed
                    del reviews[name]
                    continue
                reviews[name] = replace(review, status="rejected")
                if review.reviewed is not None:
                    served[name] = review.reviewed
                else:
                    served.pop(name, None)
            serve = tuple(served.values())
        return ToolPlan(
            serve=serve,
            reviews=tuple(reviews.values()),
            settings_review=settings_review,
            report=tuple(targets),
            values=values,
        )

    return planner


def _accepted(stored: IntegrationSettings, review: IntegrationReview) -> dict[str, Any]:
    """The config and auth methods to store once a held settings change is accepted: the
    proposed authority settings replace the reviewed ones; the other config keys stay."""
    replaced = review.reviewed.config.keys() | review.proposed.config.keys()
    config = {key: value for key, value in stored.config.items() if key not in replaced}
    return {
        "config": {**config, **review.proposed.config},
        "auth_methods": list(review.proposed.auth_methods),
    }


def plan_mode(mode: ReviewMode) -> ToolPlanner:
    """A planner for a new review mode: held changed tools start (``serve_reviewed``) or stop
    (``block``) serving their reviewed definitions. Nothing else changes (a held settings
    change keeps the reviewed settings in either mode)."""

    def planner(state: ToolState) -> ToolPlan:
        unchanged = plan_unchanged(state)
        if state.served is None:  # no tool is held
            return unchanged
        serve = dict(state.served)
        for name, review in state.reviews.items():
            if review.status != "pending" or review.reviewed is None:
                continue
            if mode == "serve_reviewed":
                serve[name] = review.reviewed
            else:
                serve.pop(name, None)
        return replace(unchanged, serve=tuple(serve.values()))

    return planner


def plan_unchanged(state: ToolState) -> ToolPlan:
    """A planner that leaves an integration's tools and held changes as they are."""
    return ToolPlan(
        serve=None, reviews=tuple(state.reviews.values()), settings_review=state.settings_review
    )


__all__ = ["plan_mode", "plan_refresh", "plan_review", "plan_unchanged"]
