from __future__ import annotations

import time

import pytest

from executor.errors import InvalidInputError
from executor.models import Policy, PolicyAction, PolicyScope
from executor.policy import PolicySet, check_pattern, decide_policy, matches

ADDRESS = "github.work.issues.create"


@pytest.mark.parametrize(
    ("pattern", "address", "expected"),
    [
        # '*' matches everything
        ("*", ADDRESS, True),
        ("*", "petstore.default.pets.list", True),
        # an exact address matches only itself
        (ADDRESS, ADDRESS, True),
        (ADDRESS, "github.work.issues.create_comment", False),
        (ADDRESS, "github.work.issues", False),
        ("github.work.issues", ADDRESS, False),
        # a trailing '*' covers the whole subtree, at any depth, but not a sibling prefix
        ("github.*", ADDRESS, True),
        ("github.*", "github.personal.repos.list", True),
        ("github.*", "githubx.work.issues.create", False),
        ("github.*", "gitlab.work.issues.create", False),
        ("github.work.*", ADDRESS, True),
        ("github.work.*", "github.personal.issues.create", False),
        ("github.work.issues.*", ADDRESS, True),
        ("github.work.issues.*", "github.work.issues.comments.create", True),
        ("github.work.issues.create.*", ADDRESS, False),
        # an inner '*' is exactly one segment
        ("github.*.issues.create", ADDRESS, True),
        ("github.*.issues.create", "github.personal.issues.create", True),
        ("github.*.issues.create", "github.work.issues.list", False),
        ("github.*.issues.create", "github.work.x.issues.create", False),
        ("*.*.issues.create", ADDRESS, True),
        ("*.work.*", ADDRESS, True),
        ("*.work.*", "github.personal.issues.create", False),
        ("github.*.issues.*", "github.work.issues.comments.create", True),
        ("github.*.issues.*", "github.work.pulls.create", False),
        # pattern characters are literal: '.' is never "any character"
        ("github.work.issues.create", "github.work.issuesXcreate", False),
        ("*.*.issues.create", "github.work.issuesXcreate", False),
    ],
)
def test_patterns_match_exactly_the_documented_addresses(
    pattern: str, address: str, expected: bool
) -> None:
    assert matches(pattern, address) is expected


@pytest.mark.parametrize(
    "pattern",
    ["*", "github.*", "github.*.issues.create", ADDRESS, "*.*.*", "a.b.c.d.e.*", "import_.x.y"],
)
def test_valid_patterns_are_returned_unchanged(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "cannot be empty"),
        ("github.iss*", "invalid segment 'iss\\*'"),
        ("git*", "invalid segment"),
        ("**", "invalid segment"),
        ("github..issues", "invalid segment ''"),
        ("github.work.", "invalid segment ''"),
        (".github.*", "invalid segment ''"),
        ("GitHub.*", "invalid segment 'GitHub'"),
        ("github.work.issues create", "invalid segment"),
        ("github.?.x", "invalid segment"),
        ("github", "matches no tool"),
        ("github.work", "matches no tool"),
        ("*.issues", "matches no tool"),
    ],
)
def test_invalid_patterns_are_refused_with_a_clear_message(pattern: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_pattern(pattern)


def test_a_too_short_pattern_suggests_its_subtree() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_pattern("github.work")
    assert "'github.work.*'" in str(caught.value)


def _rule(
    pattern: str,
    action: PolicyAction,
    position: int = 0,
    scope: PolicyScope = "workspace",
    user_id: str | None = None,
) -> Policy:
    return Policy(
        id=f"{scope}:{position}:{pattern}:{action}",
        workspace_id="ws",
        scope=scope,
        pattern=pattern,
        action=action,
        position=position,
        user_id=user_id,
    )


def _user(pattern: str, action: PolicyAction, position: int = 0, user: str = "u1") -> Policy:
    return _rule(pattern, action, position, "user", user)


DECISIONS: list[tuple[str, PolicyAction, list[Policy], PolicyAction, int | None]] = [
    # (case, tool default, rules, expected action, index of deciding rule or None)
    ("no rules: the default applies", "allow", [], "allow", None),
    ("no rules: an approval default applies", "require_approval", [], "require_approval", None),
    ("no matching rule: the default applies", "allow", [_rule("slack.*", "block")], "allow", None),
    (
        "a matching allow overrides a require_approval default",
        "require_approval",
        [_rule(ADDRESS, "allow")],
        "allow",
        0,
    ),
    (
        "a matching rule can tighten an allow default",
        "allow",
        [_rule("github.*", "require_approval")],
        "require_approval",
        0,
    ),
    (
        "within a scope the lowest position wins even if listed later",
        "allow",
        [_rule("github.*", "block", position=2), _rule(ADDRESS, "allow", position=1)],
        "allow",
        1,
    ),
    (
        "within a scope the first match wins even when a later one is stricter",
        "allow",
        [_rule(ADDRESS, "allow", position=0), _rule("*", "block", position=1)],
        "allow",
        0,
    ),
    (
        "a non-matching earlier rule is skipped",
        "allow",
        [_rule("slack.*", "allow", position=0), _rule("github.*", "block", position=1)],
        "block",
        1,
    ),
    (
        "a workspace block cannot be weakened by a user allow",
        "allow",
        [_rule("github.*", "block"), _user(ADDRESS, "allow")],
        "block",
        0,
    ),
    (
        "a user block tightens a workspace allow",
        "allow",
        [_rule("github.*", "allow"), _user(ADDRESS, "block")],
        "block",
        1,
    ),
    (
        "a user approval tightens a workspace allow",
        "allow",
        [_rule("*", "allow"), _user("github.*", "require_approval")],
        "require_approval",
        1,
    ),
    (
        "a workspace approval beats a user allow",
        "allow",
        [_rule("github.*", "require_approval"), _user("*", "allow")],
        "require_approval",
        0,
    ),
    (
        "equal actions across scopes report the workspace rule",
        "require_approval",
        [_user("*", "allow"), _rule("github.*", "allow")],
        "allow",
        1,
    ),
    (
        "a user allow alone overrides an approval default",
        "require_approval",
        [_user(ADDRESS, "allow")],
        "allow",
        0,
    ),
    (
        "another user's rules do not apply",
        "allow",
        [_user("*", "block", user="u2")],
        "allow",
        None,
    ),
    (
        "another user's rules do not apply but the caller's do",
        "allow",
        [_user("*", "block", user="u2"), _user("*", "require_approval", user="u1")],
        "require_approval",
        1,
    ),
    (
        "the first match per scope counts before comparing scopes",
        "allow",
        [
            _rule(ADDRESS, "allow", position=0),
            _rule("*", "block", position=1),
            _user("github.*", "allow", position=0),
        ],
        "allow",
        0,
    ),
    (
        "a toolkit scope is one more scope and the strictest still wins",
        "allow",
        [_rule("*", "allow"), _rule("github.*", "block", scope="toolkit")],  # type: ignore[arg-type]
        "block",
        1,
    ),
]


@pytest.mark.parametrize(
    ("default", "rules", "expected", "deciding"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_decide_policy_follows_the_precedence_rules(
    default: PolicyAction,
    rules: list[Policy],
    expected: PolicyAction,
    deciding: int | None,
) -> None:
    decision = decide_policy(ADDRESS, default, rules, user_id="u1")
    assert decision.action == expected
    assert decision.rule == (None if deciding is None else rules[deciding])
    if deciding is None:
        assert decision.reason == f"the tool's default is {default}"
    else:
        assert repr(rules[deciding].pattern) in decision.reason


def test_without_a_user_no_user_rules_apply() -> None:
    rules = [_user("*", "block", user="u1")]
    assert decide_policy(ADDRESS, "allow", rules, user_id=None).action == "allow"


def test_a_policy_set_decides_ten_thousand_tools_against_fifty_rules_quickly() -> None:
    rules = [_rule(f"api{i}.*.things.*", "require_approval", position=i) for i in range(25)]
    rules += [_user(f"api{i}.work.things.get_{i}", "allow", position=i) for i in range(25)]
    rules.append(_rule("*", "allow", position=99))
    addresses = [f"api{i % 40}.work.things.get_{i}" for i in range(10_000)]
    started = time.perf_counter()
    policies = PolicySet(rules, user_id="u1")
    decisions = [policies.decide(address, "allow") for address in addresses]
    elapsed = time.perf_counter() - started
    assert decisions[0].action == "require_approval"  # workspace approval beats the user allow
    assert decisions[39].action == "allow"  # api39 is only covered by the workspace '*'
    # A generous ceiling (measured ~0.05 s here); it catches per-call pattern compilation.
    assert elapsed < 2.0
