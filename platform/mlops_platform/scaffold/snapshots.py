"""Template versions fetched once per `mlplat fleet check`, not once per project.

Checking a project renders its recorded template version with its recorded answers. Rendering with
`vcs_ref` makes copier clone the template repository for every project, and each project asked
`git ls-remote` for the latest release: most of a 50-project check. A `Snapshots` checks out each
`(source, commit)` once into a plain tree, which copier renders as it is (copier itself clones the source at
the commit and renders that same tree), and asks each source for its releases once.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from packaging.version import Version

from mlops_platform.scaffold.templating import git, release_tags


class Snapshots:
    """Checked-out template versions and release lists for one batch; a context manager (temp files)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mlplat-templates-")
        self._trees: dict[tuple[str, str], Path] = {}
        self._releases: dict[str, list[tuple[Version, str]]] = {}

    def __enter__(self) -> Snapshots:
        return self

    def __exit__(self, *_: object) -> None:
        self._tmp.cleanup()

    def releases(self, src: str) -> list[tuple[Version, str]]:
        """`release_tags(src)`, asked once per source."""
        if src not in self._releases:
            self._releases[src] = release_tags(src)
        return self._releases[src]

    def tree(self, src: str, commit: str) -> Path:
        """The template at `commit` as a plain directory (no `.git`)."""
        key = (src, commit)
        if key not in self._trees:
            tree = Path(self._tmp.name) / str(len(self._trees))
            git("clone", "-q", "--no-checkout", src, str(tree), cwd=Path(self._tmp.name))
            git("-c", "advice.detachedHead=false", "checkout", "-q", commit, cwd=tree)
            shutil.rmtree(tree / ".git")
            self._trees[key] = tree
        return self._trees[key]
