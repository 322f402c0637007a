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
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(
            ["npm", "pack", PACKAGE, "--silent", "--pack-destination", scratch],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(scratch).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            source = archive.extractfile(MEMBER)
            if source is None:
                raise RuntimeError(f"{PACKAGE} has no {MEMBER}")
            partial = target.with_suffix(".part")
            partial.write_bytes(source.read())
            partial.replace(target)
    return target


if __name__ == "__main__":
    print(github_spec_path())
