"""Source detection: ``ex.sources.detect`` ranks the installed plugins' opinions of a URL, a
file or a document's text, and ``ex.sources.add`` without a kind uses the best one. Documents
are served by real servers on loopback; misbehaving plugins are small in-test plugins."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx2
import pytest
import yaml

from executor import Executor, FetchPolicy
from executor.errors import FetchError, InvalidInputError
from executor.results import ToolResult
from executor.sources.base import (
    Detection,
    PluginCall,
    PluginRegistry,
    Progress,
    SourceBundle,
    SourceConfig,
)
from executor.sources.detect import detect_source
from tests.conftest import Database
from tests.server import run_app
from tests.servers import serve
from tests.servers.petstore import SPEC, PetStore


class _Plugin:
    """A do-nothing plugin whose detection behaviour each test sets."""

    kind: ClassVar[str] = "custom"

    async def load(
        self, config: SourceConfig, *, fetch_policy: FetchPolicy, progress: Progress | None = None
    ) -> SourceBundle:
        raise NotImplementedError

    async def call(self, request: PluginCall) -> ToolResult:
        raise NotImplementedError


class BrokenDetector(_Plugin):
    kind: ClassVar[str] = "broken"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        raise RuntimeError("detector bug at https://example.test/x?api_key=hunter2")


class HangingProbe(_Plugin):
    kind: ClassVar[str] = "hanging"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        return None

    async def probe(
        self, url: str, *, http: httpx2.AsyncClient, timeout: float
    ) -> Detection | None:
        await anyio.sleep_forever()  # ignores its timeout: detection must bound it anyway
        return None


class FailingProbe(_Plugin):
    kind: ClassVar[str] = "failing"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        return None

    async def probe(
        self, url: str, *, http: httpx2.AsyncClient, timeout: float
    ) -> Detection | None:
        raise ConnectionError("probe bug")


class Guesser(_Plugin):
    kind: ClassVar[str] = "guesser"

    async def detect(self, text: str, *, url: str | None = None) -> Detection | None:
        return Detection(self.kind, 0.2, "anything could be mine")


@pytest.fixture
def petstore_url() -> Iterator[str]:
    with serve(PetStore().app) as url:
        yield url


@pytest.fixture
async def guessing_ex(database: Database, data_dir: Path) -> Any:
    async with Executor.open(
        **database.options(data_dir),
        plugins={"guesser": Guesser(), "broken": BrokenDetector()},  # type: ignore[dict-item]
    ) as opened:
        yield opened


async def test_openapi_json_and_yaml_text_are_detected(ex: Executor) -> None:
    for text in (json.dumps(SPEC), yaml.safe_dump(SPEC)):
        candidates = await ex.sources.detect(text)
        assert candidates[0].kind == "openapi"
        assert candidates[0].confidence >= 0.9
        assert candidates[0].reason == "OpenAPI 3.0.3 document"


async def test_a_spec_file_is_detected_and_added_without_a_kind(
    ex: Executor, tmp_path: Path
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    assert (await ex.sources.detect(str(path)))[0].kind == "openapi"
    integration = await ex.sources.add(source=str(path), base_url="http://127.0.0.1:9/v1")
    # No slug given: it comes from the spec's title.
    assert (integration.slug, integration.kind) == ("pet_store", "openapi")
    assert integration.tool_count >= 4


async def test_a_spec_url_is_fetched_detected_and_added_without_a_kind(
    ex: Executor, petstore_url: str
) -> None:
    candidates = await ex.sources.detect(f"{petstore_url}/openapi.json")
    assert candidates[0].kind == "openapi"
    assert candidates[0].confidence >= 0.9
    integration = await ex.sources.add("petstore", source=f"{petstore_url}/openapi.json")
    assert integration.kind == "openapi"
    assert integration.review_changes is False  # OpenAPI does not hold changes by default
    assert integration.tool_count >= 4


async def test_an_unknown_document_is_refused_with_a_clear_error(ex: Executor) -> None:
    assert await ex.sources.detect("just some words, not an API description") == []
    with pytest.raises(InvalidInputError) as raised:
        await ex.sources.add("mystery", source="just some words, not an API description")
    error = raised.value
    assert error.code == "invalid_input"
    assert error.message == "Could not tell what kind of source this is."
    assert "openapi" in (error.hint or "")
    assert "\n" not in str(error)
    assert await ex.sources.list() == []


async def test_an_unconfident_guess_is_refused_listing_the_candidates(
    guessing_ex: Executor,
) -> None:
    candidates = await guessing_ex.sources.detect("a document nobody knows")
    assert [(c.kind, c.confidence) for c in candidates] == [("guesser", 0.2)]
    with pytest.raises(InvalidInputError) as raised:
        await guessing_ex.sources.add("mystery", source="a document nobody knows")
    assert "guesser (0.20: anything could be mine)" in raised.value.message
    assert raised.value.details["candidates"][0]["kind"] == "guesser"


async def test_a_plugin_that_raises_is_ignored_and_logged_without_its_secrets(
    guessing_ex: Executor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="executor.sources.detect"):
        candidates = await guessing_ex.sources.detect(json.dumps(SPEC))
    assert [c.kind for c in candidates] == ["openapi", "guesser"]
    assert "'broken': detect failed: RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


async def test_an_unreachable_url_is_a_fetch_error(ex: Executor, petstore_url: str) -> None:
    with pytest.raises(FetchError) as raised:
        await ex.sources.detect(f"{petstore_url}/missing.json")
    assert "HTTP 404" in raised.value.message
    with pytest.raises(FetchError):
        await ex.sources.add(source=f"{petstore_url}/missing.json")


async def test_a_source_passed_as_the_slug_is_pointed_to_source(ex: Executor) -> None:
    with pytest.raises(InvalidInputError) as raised:
        await ex.sources.add("https://api.example.com/openapi.json")
    assert "source=" in str(raised.value)


async def test_a_missing_file_is_a_clear_error(ex: Executor, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        await ex.sources.detect(str(tmp_path / "nowhere.yaml"))


async def test_probes_run_bounded_and_a_failing_probe_never_breaks_detection(
    petstore_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = PluginRegistry(
        {"hanging": HangingProbe(), "failing": FailingProbe()}  # type: ignore[dict-item]
    )
    with caplog.at_level(logging.WARNING, logger="executor.sources.detect"):
        with anyio.fail_after(10):
            candidates = await detect_source(
                SourceConfig(url=f"{petstore_url}/openapi.json"),
                plugins=registry,
                fetch_policy=FetchPolicy(),
                probe_timeout=0.2,
            )
    assert candidates[0].kind == "openapi"
    assert "'hanging': probe took longer than" in caplog.text
    assert "'failing': probe failed: ConnectionError" in caplog.text


async def test_the_api_detects_and_adds_a_source_without_a_kind(
    data_dir: Path, petstore_url: str
) -> None:
    with run_app(data_dir) as (url, token):
        async with httpx2.AsyncClient(
            base_url=f"{url}/api", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            detected = await http.post(
                "/sources/detect", json={"source": f"{petstore_url}/openapi.json"}
            )
            assert detected.status_code == 200, detected.text
            best = detected.json()["candidates"][0]
            assert best["kind"] == "openapi"
            assert best["confidence"] >= 0.9
            assert best["reason"]

            added = await http.post("/integrations", json={"spec": f"{petstore_url}/openapi.json"})
            assert added.status_code == 201, added.text
            assert (added.json()["slug"], added.json()["kind"]) == ("pet_store", "openapi")

            unknown = await http.post("/integrations", json={"slug": "x", "spec": "hello there"})
            assert unknown.status_code == 400
            assert unknown.json()["error"]["code"] == "invalid_input"
            assert "Could not tell" in unknown.json()["error"]["message"]
