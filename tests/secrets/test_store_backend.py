from __future__ import annotations

import pytest

from executor.errors import SecretError
from executor.secrets import EncryptedSecretStore, generate_key
from executor.store import Store
from tests.conftest import Database

# The `database` fixture is parametrized: the marker must be there at collection time.
pytestmark = pytest.mark.anyio

VALUE = "xoxb-real-store-value"


async def test_secrets_round_trip_through_the_real_store_and_rest_encrypted(
    database: Database,
) -> None:
    store = await Store.open(database.url, schema=database.schema)
    try:
        workspace_id, _ = await store.ensure_local_workspace()
        key = generate_key()
        secrets = EncryptedSecretStore(store, workspace_id, key)
        uri = await secrets.put("slack/bot-token", VALUE)
        assert await secrets.resolve(uri) == VALUE
        assert await secrets.names() == ["slack/bot-token"]
        record = await store.get_secret(workspace_id, "slack/bot-token")
        assert record is not None and VALUE.encode() not in record
        with pytest.raises(SecretError, match="cannot be decrypted"):
            await EncryptedSecretStore(store, workspace_id, generate_key()).resolve(uri)
        assert await secrets.delete("slack/bot-token") is True
        assert await secrets.names() == []
    finally:
        await store.close()
