from __future__ import annotations

import base64
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from executor.errors import SecretError
from executor.secrets import load_or_create_key

KEY = bytes(range(32))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
    "text",
    [
        base64.standard_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        KEY.hex(),
        KEY.hex().upper(),
        f"  {KEY.hex()}\n",
    ],
    ids=["base64", "urlsafe", "unpadded", "hex", "HEX", "whitespace"],
)
def test_the_environment_key_is_accepted_in_every_documented_form(
    tmp_path: Path, text: str
) -> None:
    assert load_or_create_key(tmp_path, {"EXECUTOR_SECRET_KEY": text}) == KEY
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize(
    "text",
    [
        "hunter2-not-a-key",
        base64.b64encode(os.urandom(16)).decode(),
        "ab" * 31,
        base64.b64encode(KEY).decode()[:-2] + "!!",
    ],
    ids=["words", "16-bytes", "short-hex", "junk-chars"],
)
def test_a_malformed_environment_key_names_the_expected_format_without_echoing_it(
    tmp_path: Path, text: str
) -> None:
    with pytest.raises(SecretError, match=r"base64 .* or 64 hex characters") as caught:
        load_or_create_key(tmp_path, {"EXECUTOR_SECRET_KEY": text})
    assert text not in str(caught.value)


def test_the_key_file_is_created_once_with_mode_0600_in_a_0700_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    key = load_or_create_key(data_dir, {})
    path = data_dir / "secret.key"
    assert len(key) == 32
    assert _mode(path) == 0o600
    assert _mode(data_dir) == 0o700
    assert load_or_create_key(data_dir, {}) == key
    # The file holds the same text EXECUTOR_SECRET_KEY accepts, so a key can be moved there.
    assert load_or_create_key(tmp_path, {"EXECUTOR_SECRET_KEY": path.read_text()}) == key
    assert [entry.name for entry in data_dir.iterdir()] == ["secret.key"]


def test_an_existing_data_dir_keeps_its_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o750)
    load_or_create_key(tmp_path, {})
    assert _mode(tmp_path) == 0o750


def test_an_empty_environment_key_falls_back_to_the_key_file(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path, {})
    assert load_or_create_key(tmp_path, {"EXECUTOR_SECRET_KEY": ""}) == key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_open_to_other_users_is_refused_with_a_chmod_hint(
    tmp_path: Path, mode: int
) -> None:
    load_or_create_key(tmp_path, {})
    path = tmp_path / "secret.key"
    path.chmod(mode)
    with pytest.raises(SecretError, match="accessible by other users") as caught:
        load_or_create_key(tmp_path, {})
    assert f"chmod 600 {path}" in str(caught.value)


def test_a_damaged_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(SecretError, match="damaged"):
        load_or_create_key(tmp_path, {})
    assert path.read_bytes() == b"not a key"


def test_a_key_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.key"
    load_or_create_key(tmp_path / "other", {})
    (tmp_path / "other" / "secret.key").rename(real)
    (tmp_path / "secret.key").symlink_to(real)
    with pytest.raises(SecretError, match="Cannot use the secret key file"):
        load_or_create_key(tmp_path, {})


def _load_in_child(
    data_dir: str, barrier: multiprocessing.synchronize.Barrier, out: object
) -> None:
    barrier.wait()
    out.put(load_or_create_key(Path(data_dir), {}))  # type: ignore[attr-defined]


def test_concurrent_first_calls_from_several_processes_agree_on_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = 8
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(target=_load_in_child, args=(str(tmp_path), barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    keys = {results.get(timeout=30) for _ in processes}
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert len(keys) == 1
    assert keys == {load_or_create_key(tmp_path, {})}
    assert [entry.name for entry in tmp_path.iterdir()] == ["secret.key"]
