"""Safe refresh: what an integration serves after its source changed, or after a review.

A refresh never silently widens what an agent can do. When an integration reviews changes
(``review_changes``), a tool the source added, or a tool whose definition differs from the one
a person last reviewed, is *held*: the change is recorded as a :class:`~executor.models.ToolReview`
and is not served until someone accepts it. Meanwhile a changed tool keeps serving its reviewed
definition (mode ``serve_reviewed``) or is not served at all (mode ``block``); an added tool is
not served. Removed tools go at once: removing a tool only narrows authority.

The functions here are pure planners (:data:`~executor.store.ToolPlanner`): given the state the
store read inside one transaction, they say what to serve next. The store applies the plan in
that same transaction, so a review and a refresh racing each other cannot lose a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from executor.errors import InvalidInputError, NotFoundError
from executor.models import RefreshReport, ReviewMode, ToolDefinition, ToolReview
from executor.store import ToolPlan, ToolPlanner, ToolState, definition_hash
from executor.store.tables import utcnow


def plan_refresh(tools: Sequence[ToolDefinition]) -> ToolPlanner:
    """A planner that serves the source's new ``tools``, holding changes when reviews are on.

    Its report is a :class:`~executor.models.RefreshReport`: ``added``/``changed``/``removed``
    compare the source with what was known before (a held proposal counts as known, so a
    refresh that finds the same change again does not report it twice); ``held`` lists every
    tool waiting for review afterwards.
    """

    def planner(state: ToolState) -> ToolPlan:
        now = utcnow()
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
            held=tuple(sorted(review.name for review in reviews if review.status == "pending")),
        )
        return ToolPlan(serve=tuple(serve), reviews=tuple(reviews), report=report)

    return planner


def plan_review(names: Iterable[str] | None, action: str) -> ToolPlanner:
    """A planner that decides pending reviews: ``accept`` serves the proposed definitions,
    ``reject`` keeps the reviewed ones (and remembers the rejected proposal so the same change
    is not held again). ``names`` None means every pending review. Its report is the sorted
    tuple of the tool names decided."""
    if action not in ("accept", "reject"):
        raise InvalidInputError(f"Unknown review action {action!r}.", hint="Use accept or reject.")
    wanted = None if names is None else sorted(set(names))

    def planner(state: ToolState) -> ToolPlan:
        pending = {name for name, review in state.reviews.items() if review.status == "pending"}
        targets = sorted(pending) if wanted is None else wanted
        missing = [name for name in targets if name not in pending]
        if missing:
            listed = ", ".join(sorted(pending)[:10]) or "none"
            raise NotFoundError(
                f"{state.slug} has no pending review for {', '.join(map(repr, missing[:5]))}.",
                hint=f"Pending reviews of {state.slug}: {listed}.",
            )
        if not targets:
            return ToolPlan(serve=None, reviews=tuple(state.reviews.values()), report=())
        assert state.served is not None  # the store reads them when anything is held
        serve = dict(state.served)
        reviews = dict(state.reviews)
        for name in targets:
            review = reviews[name]
            if action == "accept":
                serve[name] = review.proposed
                del reviews[name]
                continue
            reviews[name] = replace(review, status="rejected")
            if review.reviewed is not None:
                serve[name] = review.reviewed
            else:
                serve.pop(name, None)
        return ToolPlan(
            serve=tuple(serve.values()), reviews=tuple(reviews.values()), report=tuple(targets)
        )

    return planner


def plan_mode(mode: ReviewMode) -> ToolPlanner:
    """A planner for a new review mode: held changed tools start (``serve_reviewed``) or stop
    (``block``) serving their reviewed definitions. Nothing else changes."""

    def planner(state: ToolState) -> ToolPlan:
        if state.served is None:  # nothing is held
            return ToolPlan(serve=None, reviews=tuple(state.reviews.values()))
        serve = dict(state.served)
        for name, review in state.reviews.items():
            if review.status != "pending" or review.reviewed is None:
                continue
            if mode == "serve_reviewed":
                serve[name] = review.reviewed
            else:
                serve.pop(name, None)
        return ToolPlan(serve=tuple(serve.values()), reviews=tuple(state.reviews.values()))

    return planner


__all__ = ["plan_mode", "plan_refresh", "plan_review"]
