"""``env://NAME``: secrets read from the Executor process's environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from executor.errors import SecretError
from executor.secrets.base import split_reference

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvSecretProvider:
    """Resolves ``env://NAME`` from ``environ`` (the live ``os.environ`` by default)."""

    scheme = "env"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    async def resolve(self, uri: str) -> str:
        """The variable's value; SecretError naming the variable if it is unset or empty."""
        scheme, name = split_reference(uri)
        if scheme != self.scheme or not _VARIABLE.match(name):
            raise SecretError(
                "An environment reference must look like 'env://NAME'.",
                hint="NAME is letters, digits and _, not starting with a digit.",
            )
        if name.upper().startswith("EXECUTOR_"):
            # Executor's own settings (the master key, the database URL) are never credentials
            # for an integration; a connection naming one is an attempt to exfiltrate it.
            raise SecretError(
                f"env://{name} is refused: EXECUTOR_* variables are Executor's own settings.",
                hint="Put the credential in a variable of its own.",
                details={"variable": name},
            )
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(name)
        # An empty credential is never what someone meant; treat it like a missing one.
        if not value:
            raise SecretError(
                f"Environment variable {name} is not set.",
                hint=f"Set {name} in the environment of the Executor process and retry.",
                details={"variable": name},
            )
        return value
