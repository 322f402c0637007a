from __future__ import annotations

import pytest

from executor.errors import SecretError
from executor.secrets import (
    EncryptedSecretStore,
    EnvSecretProvider,
    SecretResolver,
    default_resolver,
    generate_key,
)
from tests.secrets.memory import MemorySecretBackend

pytestmark = pytest.mark.anyio


async def test_env_references_read_the_named_variable() -> None:
    provider = EnvSecretProvider({"GITHUB_TOKEN": "ghp_value"})
    assert await provider.resolve("env://GITHUB_TOKEN") == "ghp_value"


async def test_env_provider_reads_the_live_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = EnvSecretProvider()
    monkeypatch.setenv("LATE_TEST_SECRET", "late-value")
    assert await provider.resolve("env://LATE_TEST_SECRET") == "late-value"


@pytest.mark.parametrize("environ", [{}, {"MISSING_TOKEN": ""}])
async def test_a_missing_env_variable_is_named_in_the_error(environ: dict[str, str]) -> None:
    with pytest.raises(SecretError, match="MISSING_TOKEN is not set") as caught:
        await EnvSecretProvider(environ).resolve("env://MISSING_TOKEN")
    assert caught.value.details == {"variable": "MISSING_TOKEN"}


@pytest.mark.parametrize("uri", ["env://", "env://1BAD", "env://A-B", "env://A/B"])
async def test_a_malformed_env_reference_is_refused(uri: str) -> None:
    with pytest.raises(SecretError, match="env://NAME"):
        await EnvSecretProvider({"A": "x"}).resolve(uri)


async def test_the_resolver_routes_each_reference_to_the_provider_of_its_scheme() -> None:
    store = EncryptedSecretStore(MemorySecretBackend(), "ws", generate_key())
    uri = await store.put("token", "stored-value")
    resolver = default_resolver(store, {"TOKEN": "env-value"})
    assert resolver.schemes == ["env", "secret"]
    assert await resolver.resolve(uri) == "stored-value"
    assert await resolver.resolve("env://TOKEN") == "env-value"


async def test_an_unknown_scheme_lists_the_known_ones() -> None:
    resolver = SecretResolver([EnvSecretProvider({})])
    with pytest.raises(SecretError, match="Unknown secret scheme 'aws'") as caught:
        await resolver.resolve("aws://thing")
    assert "Known schemes: env://" in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "extra"),
    [
        ("keyring://svc/user", "keyring"),
        ("op://vault/item/field", "onepassword"),
        ("vault://kv/app#token", "vault"),
    ],
)
async def test_optional_providers_say_they_are_not_available(uri: str, extra: str) -> None:
    resolver = SecretResolver([EnvSecretProvider({})])
    assert resolver.is_reference(uri)
    with pytest.raises(SecretError, match="is not available yet") as caught:
        await resolver.resolve(uri)
    assert f"({extra})" in str(caught.value)
    assert "secret://" in str(caught.value)


async def test_a_registered_provider_takes_over_an_optional_scheme() -> None:
    class FakeKeyring:
        scheme = "keyring"

        async def resolve(self, uri: str) -> str:
            return "from-keyring"

    resolver = SecretResolver([FakeKeyring()])
    assert await resolver.resolve("keyring://svc/user") == "from-keyring"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("secret://token", True),
        ("env://TOKEN", True),
        ("op://vault/item", True),
        ("secret://", False),
        ("https://example.com", False),
        ("plain-password", False),
        ("SECRET://token", False),
        ("", False),
    ],
)
def test_is_reference_recognises_only_secret_schemes(value: str, expected: bool) -> None:
    store = EncryptedSecretStore(MemorySecretBackend(), "ws", generate_key())
    assert default_resolver(store, {}).is_reference(value) is expected


async def test_a_string_that_is_not_a_uri_is_refused_with_an_example() -> None:
    with pytest.raises(SecretError, match="<scheme>://<name>"):
        await SecretResolver().resolve("just-a-value")


async def test_env_references_cannot_read_executors_own_settings() -> None:
    provider = EnvSecretProvider({"EXECUTOR_SECRET_KEY": "master", "executor_database_url": "x"})
    for name in ("EXECUTOR_SECRET_KEY", "executor_database_url"):
        with pytest.raises(SecretError, match="Executor's own settings") as caught:
            await provider.resolve(f"env://{name}")
        assert "master" not in str(caught.value)
