"""GitHub's REST OpenAPI description, the benchmarks' yardstick: fetched once with npm, cached.

``github_spec_path()`` returns ``bench/.cache/api.github.com.json``, extracting it from the npm
package ``@octokit/openapi`` (MIT) with ``npm pack`` when it is not there yet.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@octokit/openapi@23.0.2"
MEMBER = "package/generated/api.github.com.json"
CACHE = Path(__file__).resolve().parent / ".cache"


def github_spec_path() -> Path:
    """Path to GitHub's REST spec (OpenAPI 3.0, ~13 MB JSON), downloading it if needed."""
    target = CACHE / "api.github.com.json"
    if not target.exists():
        npm_extract(PACKAGE, {MEMBER: target})
    return target


def npm_extract(package: str, members: dict[str, Path]) -> None:
    """Fetch an npm package's tarball with ``npm pack`` and write the named members to their
    paths (each written whole or not at all)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(
            ["npm", "pack", package, "--silent", "--pack-destination", scratch],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(scratch).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            for member, target in members.items():
                source = archive.extractfile(member)
                if source is None:
                    raise RuntimeError(f"{package} has no {member}")
                partial = target.with_suffix(".part")
                partial.write_bytes(source.read())
                partial.replace(target)
