"""A loopback HTTP server for spec files, shared by the OpenAPI import tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.servers import serve

SPECS = Path(__file__).parent / "specs"


@contextmanager
def serve_directory(directory: Path = SPECS) -> Iterator[str]:
    """Serve the files of ``directory`` over HTTP on loopback; yield the base URL."""
    app = Starlette(routes=[Mount("/", app=StaticFiles(directory=directory))])
    with serve(app) as url:
        yield url
