"""Tool search: one ranking, the same on SQLite and PostgreSQL.

Searching happens in two steps.

1. **Candidates.** The database finds the tools that carry every word of the query (or a
   synonym) in their name, tags or summary; when those are few, it adds the tools containing a
   *selective* query word anywhere, description included. Each step returns at most
   :data:`CANDIDATES`, best first by the database's own field-weighted rank — ``bm25()`` with
   column weights over an FTS5 table on SQLite, ``ts_rank_cd()`` over a tsvector with
   ``setweight`` A/B/C/D on PostgreSQL. Never ranking every loose match ("get" is in half of
   any catalog) is what keeps a search at 10,000 tools within a few milliseconds.
2. **Ranking.** :class:`Scorer` ranks those candidates in Python, identically on both
   databases: a BM25-style IDF per term (document frequencies kept in ``search_terms``), field
   weights (name > tags/namespace > summary > description), a boost when the query names the
   tool (``create issue`` → ``issues.create``) or its operation, a boost when a query word is
   the tool's namespace or a tag, synonyms (``remove`` finds ``delete``) at a discount, and a
   penalty for every query word the tool lacks in its name, tags and summary.

Both databases index the same analysed terms (:func:`analyse`: lowercase words, camelCase and
``snake_case`` split, a light stemmer, canonical abbreviations), so they match the same tools.
User text never reaches a query language: it is reduced to ``[a-z0-9]+`` terms first, and those
are the only thing the FTS5 ``MATCH`` string and the PostgreSQL ``tsquery`` are built from.

A query with no good match says so (:attr:`SearchOutcome.is_good_match`) instead of pretending:
the top hit must carry most of the query's words in its name, tags or summary.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from executor.models import ToolDefinition
from executor.store import tables as t

#: How many candidates the database hands to the shared scorer.
CANDIDATES = 100
#: A concept found in at most this many tools (or this share of them) is selective enough
#: to fetch every tool that contains it.
SELECTIVE_MIN = 100
SELECTIVE_SHARE = 0.03
#: Description terms kept per tool: long descriptions add noise, not recall.
MAX_DESCRIPTION_TERMS = 200

#: Relative importance of a term found in each field.
FIELD_WEIGHTS = {"name": 3.0, "tags": 2.2, "summary": 1.6, "description": 0.5}
#: A synonym counts for this much of the word the user typed.
SYNONYM_WEIGHT = 0.7
#: Share of the query's words the top hit must carry in name/tags/summary to be a good match.
GOOD_MATCH_COVERAGE = 0.6

#: Longer runs of letters and digits are hashes, tokens or base64, not words anyone searches.
MAX_WORD = 40
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

STOPWORDS = frozenset(
    """a about all an and any are as at be by can do does for from how i in into is it
    its me my of on or our please that the their them these this those to using
    via we what which with you your""".split()  # noqa: SIM905
)

# Abbreviations and spellings that mean the same thing, folded on both sides of the index.
_CANONICAL = {
    "repos": "repo",
    "repository": "repo",
    "repositories": "repo",
    "orgs": "org",
    "organization": "org",
    "organizations": "org",
    "organisation": "org",
    "organisations": "org",
    "pr": "pull",
    "prs": "pull",
    "configuration": "config",
    "configurations": "config",
    "authentication": "auth",
    "authenticated": "auth",
    "information": "info",
    "application": "app",
    "applications": "app",
    "environment": "env",
    "environments": "env",
    "directory": "dir",
    "directories": "dir",
    "e-mail": "email",
    "mail": "email",
    "messages": "message",
    "msg": "message",
}

# Words a user means interchangeably; each maps to alternatives searched at SYNONYM_WEIGHT.
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("delete", "remove", "destroy", "erase", "drop"),
    ("create", "add", "new", "make", "open"),
    ("update", "edit", "modify", "change", "rename", "set"),
    ("get", "fetch", "retrieve", "read", "show", "view", "download"),
    ("list", "show", "enumerate", "browse"),
    ("search", "find", "lookup", "query"),
    ("run", "trigger", "dispatch", "start", "execute"),
    ("cancel", "stop", "abort"),
    ("upload", "attach"),
    ("user", "account", "member", "person"),
    ("comment", "reply"),
)


def _stem(word: str) -> str:
    """A light suffix stripper: plurals, -ing, -ed and a final -e, applied the same everywhere."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, shortest in (("ing", 6), ("ed", 5)):
        if word.endswith(suffix) and len(word) >= shortest:
            word = word[: -len(suffix)]
            # "starr" → "star", "committ" → "commit"; "install" keeps its double l.
            if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "aeiouylsz":
                word = word[:-1]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _term(word: str) -> str:
    word = _CANONICAL.get(word, word)
    return _CANONICAL.get(_stem(word), _stem(word))


def words(text: str) -> list[str]:
    """Lowercase words of ``text``: camelCase, snake_case, dots and punctuation split."""
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def analyse(text: str) -> list[str]:
    """The index terms of ``text``, in order: stopwords dropped, words stemmed and folded."""
    return [_term(word) for word in words(text) if word not in STOPWORDS and len(word) <= MAX_WORD]


_FIRST_PERSON = frozenset({"my", "me", "mine", "i", "our"})


def _synonym_map() -> dict[str, tuple[str, ...]]:
    mapping: dict[str, list[str]] = {}
    for group in _SYNONYM_GROUPS:
        terms = [_term(word) for word in group]
        for term in terms:
            mapping.setdefault(term, [])
            mapping[term].extend(other for other in terms if other != term)
    return {term: tuple(dict.fromkeys(others)) for term, others in mapping.items()}


_SYNONYMS = _synonym_map()


@dataclass(frozen=True)
class SearchDocument:
    """The analysed fields of one tool, as stored in the index (terms joined by spaces)."""

    name: str
    tags: str
    summary: str
    description: str


def analyse_tool(tool: ToolDefinition) -> SearchDocument:
    """Index fields for ``tool``: name words, namespace and tags, summary, description."""
    name_terms = analyse(tool.name.replace(".", " ").replace("_", " "))
    namespace = tool.name.split(".")[0] if "." in tool.name else ""
    tag_terms = analyse(" ".join([namespace, *tool.tags]))
    description_terms = list(dict.fromkeys(analyse(tool.description)))[:MAX_DESCRIPTION_TERMS]
    return SearchDocument(
        name=" ".join(name_terms),
        tags=" ".join(dict.fromkeys(tag_terms)),
        summary=" ".join(dict.fromkeys(analyse(tool.summary))),
        description=" ".join(description_terms),
    )


def term_counts(documents: Iterable[SearchDocument]) -> Counter[str]:
    """How many of ``documents`` contain each term (their document frequencies)."""
    counts: Counter[str] = Counter()
    for document in documents:
        counts.update(
            set(
                f"{document.name} {document.tags} {document.summary} {document.description}".split()
            )
        )
    return counts


@dataclass(frozen=True)
class Concept:
    """One thing the user asked for: the term they typed plus its synonyms."""

    term: str
    variants: tuple[tuple[str, float], ...]
    #: An optional concept only nudges the ranking: it is not required for a good match.
    is_optional: bool = False


def parse_query(text: str) -> list[Concept]:
    """The concepts of a query, each with its weighted variants. Never raises.

    A word that is a synonym of an earlier one adds nothing ("create a new issue" asks for
    one thing, not two), so it does not become a concept of its own.
    """
    concepts: list[Concept] = []
    seen: set[str] = set()
    for term in analyse(text):
        if term in seen:
            continue
        variants = [(term, 1.0)]
        variants += [(other, SYNONYM_WEIGHT) for other in _SYNONYMS.get(term, ()) if other != term]
        seen.update(variant for variant, _ in variants)
        concepts.append(Concept(term, tuple(variants)))
    if _FIRST_PERSON.intersection(words(text)):
        # "list my repositories" means the authenticated user's ones.
        concepts.append(Concept("auth", (("auth", 0.5), ("user", 0.4)), is_optional=True))
    return concepts


def query_terms(concepts: Sequence[Concept]) -> list[str]:
    """Every term a candidate may contain, deduplicated; all are ``[a-z0-9]+``."""
    return list(dict.fromkeys(term for concept in concepts for term, _ in concept.variants))


@dataclass(frozen=True)
class Candidate:
    """A tool the database matched, with its analysed fields."""

    integration: str
    name: str
    document: SearchDocument


@dataclass(frozen=True)
class Scored:
    integration: str
    name: str
    score: float
    coverage: float


@functools.lru_cache(maxsize=65536)
def _segment_terms(name: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """(terms of the whole name, terms of its last segment, whether it has a namespace)."""
    segments = name.split(".")
    whole = frozenset(analyse(name.replace(".", " ").replace("_", " ")))
    return whole, frozenset(analyse(segments[-1].replace("_", " "))), len(segments) > 1


class Scorer:
    """Ranks candidates for one query. ``frequencies``/``total`` give each term's IDF."""

    def __init__(
        self, concepts: Sequence[Concept], frequencies: dict[str, int], total: int
    ) -> None:
        def idf(term: str) -> float:
            frequency = frequencies.get(term, 0)
            return math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))

        concept_idf = [idf(concept.term) for concept in concepts]
        self._required = [not concept.is_optional for concept in concepts]
        # (concept index, " term ", term, is the typed word, variant weight × IDF). A synonym
        # never outweighs the typed word just for being rarer.
        self._variants = [
            (index, f" {term} ", term, weight == 1.0, weight * min(idf(term), typed_idf))
            for index, (concept, typed_idf) in enumerate(zip(concepts, concept_idf, strict=True))
            for term, weight in concept.variants
        ]

    def score(self, candidate: Candidate) -> Scored:
        """Rank one candidate. ``coverage`` is the share of the query's required concepts
        that the candidate carries in its name, tags or summary (1.0: all of them)."""
        document = candidate.document
        name = f" {document.name} "
        tags = f" {document.tags} "
        summary = f" {document.summary} "
        description = f" {document.description} "
        # Shorter names are more specific: `issues.create` beats `reactions.create_for_issue`.
        name_weight = FIELD_WEIGHTS["name"] / (1.0 + 0.12 * max(0, document.name.count(" ") - 1))
        tags_weight = FIELD_WEIGHTS["tags"]
        summary_weight = FIELD_WEIGHTS["summary"]
        best = [0.0] * len(self._required)
        strong = [False] * len(self._required)
        matched: set[str] = set()
        namespace_hit = False
        for index, padded, term, is_typed, weight in self._variants:
            field_weight = 0.0
            if padded in name:
                field_weight = name_weight
            if padded in tags:
                field_weight = max(field_weight, tags_weight)
                namespace_hit = namespace_hit or is_typed
            if padded in summary:
                field_weight = max(field_weight, summary_weight)
            if field_weight:
                strong[index] = True
            elif padded in description:
                field_weight = FIELD_WEIGHTS["description"]
            else:
                continue
            matched.add(term)
            best[index] = max(best[index], weight * field_weight)

        total = sum(best)
        required = sum(self._required)
        found = sum(
            1
            for is_found, is_required in zip(strong, self._required, strict=True)
            if is_found and is_required
        )
        coverage = found / required if required else 0.0
        if coverage >= GOOD_MATCH_COVERAGE:
            whole, last, has_namespace = _segment_terms(candidate.name)
            if whole <= matched:
                total *= 1.6  # the query names the tool outright
            elif has_namespace and last <= matched:
                total *= 1.25  # the query names the operation, if not its namespace
        if namespace_hit:
            total *= 1.2
        # Among equals, prefer the tool whose name and summary say little besides the query:
        # "List commits" over "List gist commits" for "list commits".
        name_terms = document.name.split()
        summary_terms = document.summary.split()
        if name_terms and summary_terms:
            total *= (
                1.0
                + 0.2 * sum(term in matched for term in name_terms) / len(name_terms)
                + 0.1 * sum(term in matched for term in summary_terms) / len(summary_terms)
            )
        # Every word the user typed matters, common or not: a tool that answers the whole
        # query beats one that answers a single rare word of it loudly.
        total *= 0.4 + 0.6 * coverage
        return Scored(candidate.integration, candidate.name, total, coverage)


def rank(
    concepts: Sequence[Concept],
    candidates: Iterable[Candidate],
    frequencies: dict[str, int],
    total: int,
    limit: int,
) -> tuple[list[Scored], bool]:
    """Score, order (ties by integration and name) and cut; plus the good-match verdict."""
    scorer = Scorer(concepts, frequencies, total)
    scored = [scorer.score(candidate) for candidate in candidates]
    scored = [item for item in scored if item.score > 0]
    scored.sort(key=lambda item: (-round(item.score, 9), item.integration, item.name))
    is_good = bool(scored) and scored[0].coverage >= GOOD_MATCH_COVERAGE
    return scored[:limit], is_good


# --- database access ---------------------------------------------------------------------------

# bm25() takes one weight per FTS5 column, unindexed ones included (tool_id, workspace_id,
# integration_id, then name, tags, summary, description).
_BM25 = "bm25(tool_search, 0.0, 0.0, 0.0, 10.0, 7.0, 4.0, 1.0)"
# ts_rank_cd weights are given for D, C, B, A: description, summary, tags, name.
_TS_WEIGHTS = "{0.1, 0.4, 0.7, 1.0}"


def _fts5_query(groups: Sequence[Sequence[str]], *, strong_only: bool) -> str:
    # Terms are [a-z0-9]+ by construction; quoting makes each a literal FTS5 string anyway.
    columns = "{name tags summary}" if strong_only else "{name tags summary description}"
    clauses = ["(" + " OR ".join(f'"{term}"' for term in group) + ")" for group in groups]
    return f"{columns} : (" + " AND ".join(clauses) + ")"


def _tsquery(groups: Sequence[Sequence[str]], *, strong_only: bool) -> str:
    # Weights A, B, C are the name, tags and summary fields; D is the description.
    suffix = ":ABC" if strong_only else ""
    return " & ".join("(" + " | ".join(term + suffix for term in group) + ")" for group in groups)


@functools.cache
def _frequency_statement(is_filtered: bool) -> sa.CompoundSelect[Any]:
    # Built once: constructing Core statements costs more than running these ones.
    scope = t.integrations.c.workspace_id == sa.bindparam("workspace_id")
    if is_filtered:
        scope = sa.and_(scope, t.integrations.c.slug == sa.bindparam("integration"))
    total_query = sa.select(
        sa.literal(""), sa.func.coalesce(sa.func.sum(t.integrations.c.tool_count), 0)
    ).where(scope)
    frequency_query = (
        sa.select(t.search_terms.c.term, sa.func.sum(t.search_terms.c.doc_count))
        .join(t.integrations, t.integrations.c.id == t.search_terms.c.integration_id)
        .where(scope, t.search_terms.c.term.in_(sa.bindparam("terms", expanding=True)))
        .group_by(t.search_terms.c.term)
    )
    # One round trip: the empty term carries the number of tools.
    return sa.union_all(total_query, frequency_query)


def _frequencies(
    connection: sa.Connection, workspace_id: str, integration: str | None, terms: Sequence[str]
) -> tuple[dict[str, int], int]:
    parameters = {"workspace_id": workspace_id, "integration": integration, "terms": list(terms)}
    if integration is None:
        del parameters["integration"]
    rows = connection.execute(_frequency_statement(integration is not None), parameters).all()
    counts = {term: int(count) for term, count in rows}
    total = counts.pop("", 0)
    return counts, total


@functools.cache
def _match_statement(dialect: str, is_filtered: bool) -> sa.Select[Any]:
    s = t.tool_search.c
    columns = [t.integrations.c.slug, t.tools.c.name, s.name, s.tags, s.summary, s.description]
    statement = (
        sa.select(*columns)
        .select_from(t.tool_search)
        .join(t.tools, t.tools.c.id == s.tool_id)
        .join(t.integrations, t.integrations.c.id == s.integration_id)
        .where(s.workspace_id == sa.bindparam("workspace_id"))
        .limit(CANDIDATES)
    )
    if is_filtered:
        statement = statement.where(t.integrations.c.slug == sa.bindparam("integration"))
    if dialect == "sqlite":
        return statement.where(sa.text("tool_search MATCH :query")).order_by(sa.text(_BM25))
    tsquery = sa.func.to_tsquery(sa.literal_column("'simple'"), sa.bindparam("query"))
    document: sa.ColumnElement[Any] = sa.literal_column("tool_search.document")
    return statement.where(document.op("@@")(tsquery)).order_by(
        sa.func.ts_rank_cd(sa.literal_column(f"'{_TS_WEIGHTS}'"), document, tsquery).desc()
    )


def _match(
    connection: sa.Connection,
    workspace_id: str,
    integration: str | None,
    groups: Sequence[Sequence[str]],
    *,
    strong_only: bool,
) -> list[Candidate]:
    """Tools containing a term of every group, best first by the database's weighted rank."""
    dialect = connection.dialect.name
    query = (
        _fts5_query(groups, strong_only=strong_only)
        if dialect == "sqlite"
        else _tsquery(groups, strong_only=strong_only)
    )
    parameters = {"workspace_id": workspace_id, "query": query}
    if integration is not None:
        parameters["integration"] = integration
    statement = _match_statement(dialect, integration is not None)
    rows = connection.execute(statement, parameters).all()
    return [
        Candidate(slug, name, SearchDocument(n, tags, summary, description))
        for slug, name, n, tags, summary, description in rows
    ]


def _candidates(
    connection: sa.Connection,
    workspace_id: str,
    integration: str | None,
    concepts: Sequence[Concept],
    frequencies: dict[str, int],
    total: int,
) -> list[Candidate]:
    """The tools worth scoring, without asking the database to rank every loose match.

    First the tools that carry every concept in their name, tags or summary. When those are
    few, add the tools containing any of the query's selective concepts anywhere: a word that
    half the catalog contains ("get") finds nothing useful on its own.
    """
    groups = [
        [term for term, _ in concept.variants] for concept in concepts if not concept.is_optional
    ] or [[term for term, _ in concept.variants] for concept in concepts]
    found = _match(connection, workspace_id, integration, groups, strong_only=True)
    if len(found) >= CANDIDATES:
        return found
    spread = [sum(frequencies.get(term, 0) for term in group) for group in groups]
    ceiling = max(SELECTIVE_MIN, SELECTIVE_SHARE * total)
    selective = [group for group, count in zip(groups, spread, strict=True) if 0 < count <= ceiling]
    if not selective:
        selective = [min(zip(groups, spread, strict=True), key=lambda item: item[1])[0]]
    loose = [term for group in selective for term in group]
    seen = {(candidate.integration, candidate.name) for candidate in found}
    for candidate in _match(connection, workspace_id, integration, [loose], strong_only=False):
        if (candidate.integration, candidate.name) not in seen:
            found.append(candidate)
    return found


@dataclass(frozen=True)
class SearchOutcome:
    """Ranked ``(integration slug, tool name, score)`` triples and the good-match verdict."""

    matches: list[tuple[str, str, float]]
    is_good_match: bool


def search(
    connection: sa.Connection,
    workspace_id: str,
    query: str,
    *,
    integration: str | None,
    limit: int,
) -> SearchOutcome:
    """Search the tools of a workspace (or of the integration with slug ``integration``).

    Synchronous on purpose: the store runs it in a worker thread on SQLite (one hop for the
    whole search instead of one per statement) and through ``run_sync`` on PostgreSQL.
    """
    concepts = parse_query(query)
    terms = query_terms(concepts)
    if not terms or limit <= 0:
        return SearchOutcome([], False)
    frequencies, total = _frequencies(connection, workspace_id, integration, terms)
    if not frequencies:
        return SearchOutcome([], False)
    candidates = _candidates(connection, workspace_id, integration, concepts, frequencies, total)
    ranked, is_good = rank(concepts, candidates, frequencies, total, limit)
    return SearchOutcome([(item.integration, item.name, item.score) for item in ranked], is_good)
