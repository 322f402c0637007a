"""What every command gets: the output, the data dir, and a client for the daemon."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from executor import __version__
from executor.cli.client import ApiClient
from executor.cli.output import Output


@dataclass
class Context:
    """One invocation's settings; :meth:`api` connects to (or starts) the daemon once."""

    out: Output
    data_dir: Path
    debug: bool = False
    _client: ApiClient | None = field(default=None, repr=False)

    def api(self) -> ApiClient:
        """The daemon's API, starting the daemon in the background when none runs."""
        if self._client is None:
            from executor.cli.daemon import connect

            self._client, manifest = connect(self.data_dir)
            if manifest.version != __version__:
                print(
                    f"executor: the daemon runs version {manifest.version}, this CLI is "
                    f"{__version__}; restart it with: executor daemon restart",
                    file=sys.stderr,
                )
        return self._client

    def request(self, method: str, path: str, **options: Any) -> Any:
        """One API request to the daemon (see :meth:`ApiClient.request`)."""
        return self.api().request(method, path, **options)
