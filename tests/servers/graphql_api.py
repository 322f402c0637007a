"""A real GraphQL API for tests: graphql-core executing a small library schema behind Starlette.

``/graphql`` answers queries and mutations (introspection included) over ``POST`` JSON, the
way real servers do: validation failures are HTTP 400 with ``errors``; resolver failures are
HTTP 200 with ``errors`` next to whatever ``data`` could be computed. ``/private/graphql`` is
the same API behind a bearer token (401 JSON without it). Every request to either is recorded
in :attr:`Library.requests` so tests can see the document and variables as they arrived.

The other routes misbehave on purpose: an HTML page (``/html``), a broken introspection
result (``/broken``), introspection refused (``/no-introspection``), a GraphQL server that
echoes the caller's credentials inside an error (``/leaky``), a redirect (``/redirect``), an
endpoint that never answers until the client leaves (``/slow``) and one whose answer trickles
in a byte at a time and never ends (``/drip``).
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import graphql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.servers.echo_api import Drips, NeverAnswers

TOKEN = "library-token-0123456789"

SDL = '''
"""A small library: books, authors and a search."""
schema { query: Query mutation: Mutation }

"An ISO 8601 date and time."
scalar DateTime

"What a book is about."
enum Genre { FICTION SCIENCE HISTORY }

"Which books to list. Filters combine with and/or."
input BookFilter {
  genre: Genre
  titleContains: String
  and: [BookFilter!]
  or: [BookFilter!]
}

input NewBook {
  "The book's title."
  title: String!
  genre: Genre!
  authorId: ID!
  tags: [String!]
  publishedAt: DateTime
  copies: Int = 1
}

"Exactly one way to find an author."
input AuthorKey @oneOf { id: ID, name: String }

interface Node { id: ID! }

type Author implements Node {
  id: ID!
  name: String!
  books: [Book!]!
}

type Book implements Node {
  id: ID!
  title: String!
  genre: Genre!
  tags: [String!]!
  publishedAt: DateTime
  copies: Int!
  author: Author!
  "Needs an argument, so defaults leave it out."
  excerpt(words: Int!): String!
  isbn: String @deprecated(reason: "Use id.")
}

type PageInfo { hasNextPage: Boolean! endCursor: String }
type BookEdge { node: Book! cursor: String! }
type BookConnection {
  totalCount: Int!
  pageInfo: PageInfo!
  nodes: [Book!]!
  edges: [BookEdge!]!
}

union SearchResult = Book | Author

type Query {
  "Look up one book by its id. Returns null when there is none."
  book(id: ID!): Book
  "List books, a page at a time."
  books(filter: BookFilter, first: Int = 10, after: String): BookConnection!
  "Find an author by id or by name."
  author(key: AuthorKey!): Author
  "Books and authors whose name contains the text."
  search(text: String!): [SearchResult!]!
  node(id: ID!): Node
  "Always answers pong."
  ping: String!
  bookByTitle(title: String!): Book @deprecated(reason: "Use books(filter:).")
  "Always fails."
  broken: String
  "Every book, but the resolver fails on the second one."
  flaky: [Book]
  "Who the caller is; needs credentials."
  whoami: String
}

type Mutation {
  "Add a book to the library."
  addBook(input: NewBook!): Book!
  "Remove a book."
  deleteBook(id: ID!): Boolean!
}
'''


class Library:
    """The API's state (authors, books, every request received) and its ASGI app."""

    def __init__(self) -> None:
        self.authors: dict[str, dict[str, Any]] = {
            "a1": {"id": "a1", "name": "Ursula K. Le Guin"},
            "a2": {"id": "a2", "name": "Carl Sagan"},
        }
        self.books: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        for title, genre, author in (
            ("The Dispossessed", "FICTION", "a1"),
            ("Cosmos", "SCIENCE", "a2"),
            ("A Wizard of Earthsea", "FICTION", "a1"),
        ):
            self._add({"title": title, "genre": genre, "authorId": author})
        self.schema = graphql.build_schema(SDL)
        self._wire()
        self.app = Starlette(
            routes=[
                Route("/graphql", self.endpoint, methods=["GET", "POST"]),
                Route("/private/graphql", self.private_endpoint, methods=["POST"]),
                Route("/html", html_page, methods=["GET", "POST"]),
                Route("/broken", broken_introspection, methods=["POST"]),
                Route("/no-introspection", no_introspection, methods=["POST"]),
                Route("/leaky", leaky, methods=["POST"]),
                Route("/redirect", redirect, methods=["POST"]),
                Route("/slow", NeverAnswers(), methods=["POST"]),
                Route("/drip", Drips(), methods=["POST"]),
            ]
        )

    def _add(self, data: dict[str, Any]) -> dict[str, Any]:
        book_id = f"b{next(self._ids)}"
        book = {
            "id": book_id,
            "title": data["title"],
            "genre": data["genre"],
            "tags": list(data.get("tags") or []),
            "publishedAt": data.get("publishedAt"),
            "copies": data.get("copies", 1),
            "authorId": data["authorId"],
        }
        self.books[book_id] = book
        return book

    def _wire(self) -> None:
        types = self.schema.type_map
        query = self.schema.query_type
        mutation = self.schema.mutation_type
        assert query is not None and mutation is not None
        resolvers = {
            "book": lambda _root, _info, id: self.books.get(id),
            "books": self._list_books,
            "author": self._author,
            "search": self._search,
            "node": lambda _root, _info, id: self.books.get(id) or self.authors.get(id),
            "ping": lambda _root, _info: "pong",
            "bookByTitle": lambda _root, _info, title: next(
                (b for b in self.books.values() if b["title"] == title), None
            ),
            "broken": _fail,
            "flaky": self._flaky,
            "whoami": _whoami,
        }
        for name, resolve in resolvers.items():
            query.fields[name].resolve = resolve
        mutation.fields["addBook"].resolve = lambda _root, _info, input: self._add(input)
        mutation.fields["deleteBook"].resolve = lambda _root, _info, id: (
            self.books.pop(id, None) is not None
        )
        book = types["Book"]
        assert isinstance(book, graphql.GraphQLObjectType)
        book.fields["author"].resolve = lambda b, _info: self.authors[b["authorId"]]
        book.fields["excerpt"].resolve = lambda b, _info, words: " ".join(
            b["title"].split()[:words]
        )
        author = types["Author"]
        assert isinstance(author, graphql.GraphQLObjectType)
        author.fields["books"].resolve = lambda a, _info: [
            b for b in self.books.values() if b["authorId"] == a["id"]
        ]
        for abstract in ("Node", "SearchResult"):
            kind = types[abstract]
            assert isinstance(kind, graphql.GraphQLInterfaceType | graphql.GraphQLUnionType)
            kind.resolve_type = lambda value, *_: "Book" if "title" in value else "Author"

    def _list_books(
        self, _root: Any, _info: Any, filter: Any = None, first: int = 10, after: Any = None
    ) -> dict[str, Any]:
        books = [b for b in self.books.values() if _matches(b, filter or {})]
        start = int(after) if after else 0
        page = books[start : start + first]
        end = start + len(page)
        return {
            "totalCount": len(books),
            "pageInfo": {"hasNextPage": end < len(books), "endCursor": str(end)},
            "nodes": page,
            "edges": [{"node": b, "cursor": str(start + i + 1)} for i, b in enumerate(page)],
        }

    def _author(self, _root: Any, _info: Any, key: dict[str, Any]) -> dict[str, Any] | None:
        if "id" in key:
            return self.authors.get(key["id"])
        return next((a for a in self.authors.values() if a["name"] == key.get("name")), None)

    def _search(self, _root: Any, _info: Any, text: str) -> list[dict[str, Any]]:
        needle = text.lower()
        books = [b for b in self.books.values() if needle in b["title"].lower()]
        authors = [a for a in self.authors.values() if needle in a["name"].lower()]
        return [*books, *authors]

    def _flaky(self, _root: Any, _info: Any) -> list[Any]:
        books: list[Any] = list(self.books.values())[:3]
        books[1] = graphql.GraphQLError("This book is checked out.")
        return books

    async def endpoint(self, request: Request) -> Response:
        return await self._execute(request)

    async def private_endpoint(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse(
                {"message": "Requires authentication"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="library"'},
            )
        return await self._execute(request)

    async def _execute(self, request: Request) -> Response:
        if request.method != "POST":
            return HTMLResponse("<html><body><h1>GraphiQL</h1></body></html>")
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"errors": [{"message": "Body is not JSON."}]}, status_code=400)
        self.requests.append(
            {
                "query": payload.get("query"),
                "variables": payload.get("variables"),
                "operationName": payload.get("operationName"),
                "authorization": request.headers.get("authorization"),
            }
        )
        try:
            document = graphql.parse(payload.get("query") or "")
        except graphql.GraphQLError as error:
            return JSONResponse({"errors": [error.formatted]}, status_code=400)
        errors = graphql.validate(self.schema, document)
        if errors:
            return JSONResponse({"errors": [e.formatted for e in errors]}, status_code=400)
        result = graphql.execute(
            self.schema,
            document,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
            context_value={"authorization": request.headers.get("authorization")},
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, graphql.ExecutionResult)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        return JSONResponse(body)


def _matches(book: dict[str, Any], flt: dict[str, Any]) -> bool:
    if flt.get("genre") and book["genre"] != flt["genre"]:
        return False
    if flt.get("titleContains") and flt["titleContains"].lower() not in book["title"].lower():
        return False
    if flt.get("and") and not all(_matches(book, f) for f in flt["and"]):
        return False
    return not (flt.get("or") and not any(_matches(book, f) for f in flt["or"]))


def _fail(_root: Any, _info: Any) -> str:
    raise graphql.GraphQLError("The broken field is broken.", extensions={"code": "BROKEN"})


def _whoami(_root: Any, info: graphql.GraphQLResolveInfo) -> str:
    if not info.context.get("authorization"):
        raise graphql.GraphQLError("Log in first.", extensions={"code": "UNAUTHENTICATED"})
    return "reader"


async def html_page(request: Request) -> HTMLResponse:
    return HTMLResponse("<!DOCTYPE html><html><body><h1>Welcome</h1><p>Sign in</p></body></html>")


async def broken_introspection(request: Request) -> JSONResponse:
    return JSONResponse({"data": {"__schema": {"queryType": {"name": "Query"}, "types": "no"}}})


async def no_introspection(request: Request) -> JSONResponse:
    message = "GraphQL introspection is not allowed by this server."
    return JSONResponse({"errors": [{"message": message}]})


async def leaky(request: Request) -> JSONResponse:
    received = request.headers.get("authorization", "")
    return JSONResponse(
        {"data": None, "errors": [{"message": f"Token {received} was rejected.", "path": ["ping"]}]}
    )


async def redirect(request: Request) -> Response:
    return Response(status_code=307, headers={"Location": "http://127.0.0.1:9/graphql"})
