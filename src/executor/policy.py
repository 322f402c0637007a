"""Policy patterns and the decision for one tool address (PRODUCT.md §4).

A pattern is ``*`` (everything), an exact address, or dotted segments where ``*`` stands for
exactly one segment — except as the last segment, where it stands for a whole subtree
(``github.*`` matches ``github.work.issues.create``). Rules are ordered by ``position``; the
first matching rule of each scope counts, and across scopes the most restrictive action wins,
so a workspace ``block`` cannot be weakened by a user ``allow``. With no matching rule the
tool's own default applies. A toolkit's rules (scope ``toolkit``) only ever tighten: where no
workspace or user rule matches, the tool's default is what they are weighed against.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from executor.addresses import is_identifier
from executor.errors import InvalidInputError
from executor.models import Policy, PolicyAction

#: How restrictive each action is; across scopes the highest wins.
RESTRICTIVENESS: dict[PolicyAction, int] = {"allow": 0, "require_approval": 1, "block": 2}

#: Scopes in the order a tie is reported. Rules of another scope (a toolkit's) form their own.
SCOPE_ORDER: tuple[str, ...] = ("workspace", "toolkit", "user")

_ADDRESS_SEGMENTS = 3  # integration.connection.tool

Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class PolicyDecision:
    """The action for one address, the rule that decided it (None: the tool's default), why."""

    action: PolicyAction
    rule: Policy | None
    reason: str


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid policy pattern, else raise InvalidInputError."""
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInputError(
            "A policy pattern cannot be empty.",
            hint="Use '*', an address, 'github.*' or 'github.*.issues.create'.",
        )
    if pattern == "*":
        return pattern
    segments = pattern.split(".")
    for segment in segments:
        if segment != "*" and not is_identifier(segment):
            raise InvalidInputError(
                f"Policy pattern {pattern!r} has an invalid segment {segment!r}.",
                hint="Segments are lowercase names or a whole '*' (no partial wildcards "
                "like 'iss*').",
            )
    # Without a trailing '*' the pattern matches addresses of exactly its length, and every
    # address has at least three segments; a shorter pattern would silently match nothing.
    if segments[-1] != "*" and len(segments) < _ADDRESS_SEGMENTS:
        raise InvalidInputError(
            f"Policy pattern {pattern!r} matches no tool: an address is "
            "integration.connection.tool.",
            hint=f"To cover everything under it, use {pattern + '.*'!r}.",
        )
    return pattern


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Matcher:
    """A fast predicate for ``pattern`` (validated; compiled once and cached)."""
    check_pattern(pattern)
    if pattern == "*":
        return lambda address: True
    if "*" not in pattern:
        return pattern.__eq__
    segments = pattern.split(".")
    if "*" not in segments[:-1]:
        prefix = pattern[:-1]  # "github." — the subtree, at least one more segment
        return lambda address: address.startswith(prefix) and len(address) > len(prefix)
    parts = [r"[^.]+" if segment == "*" else re.escape(segment) for segment in segments]
    if segments[-1] == "*":
        parts[-1] = r".+"
    regex = re.compile(r"\.".join(parts))
    return lambda address: regex.fullmatch(address) is not None


def matches(pattern: str, address: str) -> bool:
    """Whether the tool address ``address`` matches the policy pattern ``pattern``."""
    return compile_pattern(pattern)(address)


class PolicySet:
    """Rules prepared once for deciding many addresses (a listing, a search).

    Keeps per scope the rules that apply to ``user_id`` (user rules of other users are
    dropped), sorted by position, with their patterns compiled.
    """

    def __init__(self, rules: Iterable[Policy], *, user_id: str | None) -> None:
        scopes: dict[str, list[Policy]] = {}
        for rule in rules:
            if rule.scope == "user" and (user_id is None or rule.user_id != user_id):
                continue
            scopes.setdefault(rule.scope, []).append(rule)
        order = {scope: index for index, scope in enumerate(SCOPE_ORDER)}
        self._scopes: list[list[tuple[Matcher, Policy]]] = [
            [(compile_pattern(rule.pattern), rule) for rule in sorted(scoped, key=_position)]
            for _, scoped in sorted(
                scopes.items(), key=lambda item: (order.get(item[0], len(order)), item[0])
            )
        ]

    def decide(self, address: str, default: PolicyAction) -> PolicyDecision:
        """The decision for ``address`` whose spec-derived default is ``default``."""
        winner: Policy | None = None
        has_base = False  # a workspace or user rule matched (not only a toolkit's)
        for scoped in self._scopes:
            for matcher, rule in scoped:
                if matcher(address):
                    has_base = has_base or rule.scope != "toolkit"
                    if winner is None or (
                        RESTRICTIVENESS[rule.action] > RESTRICTIVENESS[winner.action]
                    ):
                        winner = rule
                    break
        if winner is None or (
            not has_base and RESTRICTIVENESS[default] > RESTRICTIVENESS[winner.action]
        ):
            return PolicyDecision(default, None, f"the tool's default is {default}")
        return PolicyDecision(
            winner.action,
            winner,
            f"{winner.scope} rule {winner.pattern!r} says {winner.action}",
        )


def _position(rule: Policy) -> int:
    return rule.position


def decide_policy(
    address: str,
    default: PolicyAction,
    rules: Sequence[Policy],
    *,
    user_id: str | None,
) -> PolicyDecision:
    """Decide whether a call to ``address`` is allowed, needs approval or is blocked.

    ``default`` is the tool's spec-derived default; ``rules`` are every rule in the workspace
    (user rules apply only when their ``user_id`` equals ``user_id``). To decide many
    addresses against the same rules, build one :class:`PolicySet` instead.
    """
    return PolicySet(rules, user_id=user_id).decide(address, default)


__all__ = [
    "RESTRICTIVENESS",
    "PolicyDecision",
    "PolicySet",
    "check_pattern",
    "compile_pattern",
    "decide_policy",
    "matches",
]
