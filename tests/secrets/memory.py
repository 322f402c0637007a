"""A dict-backed secret backend with the Store's four secret methods, for tests."""

from __future__ import annotations


class MemorySecretBackend:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}

    async def put_secret(self, workspace_id: str, name: str, ciphertext: bytes) -> None:
        self.rows[(workspace_id, name)] = ciphertext

    async def get_secret(self, workspace_id: str, name: str) -> bytes | None:
        return self.rows.get((workspace_id, name))

    async def list_secret_names(self, workspace_id: str) -> list[str]:
        return [name for workspace, name in self.rows if workspace == workspace_id]

    async def delete_secret(self, workspace_id: str, name: str) -> bool:
        return self.rows.pop((workspace_id, name), None) is not None
