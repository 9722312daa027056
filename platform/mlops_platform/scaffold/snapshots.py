"""Template versions fetched once per `mlplat fleet check`, not once per project.

Checking a project renders its recorded template version with its recorded answers. Rendering straight from
the source makes copier clone the template repository (over the network for a `gh:` source) for every
project, and each project asked `git ls-remote` for the releases. A `Snapshots` clones each source once
into a local mirror (tags included, so copier records the same `git describe` version) that copier then
clones locally, and asks each source for its releases once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from packaging.version import Version

from mlops_platform.scaffold.templating import git, release_tags


class Snapshots:
    """Checked-out template versions and release lists for one batch; a context manager (temp files)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mlplat-templates-")
        self._mirrors: dict[str, Path] = {}
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

    def mirror(self, src: str) -> Path:
        """A local clone of `src`: render any of its commits from here with `vcs_ref`."""
        if src not in self._mirrors:
            mirror = Path(self._tmp.name) / str(len(self._mirrors))
            git("clone", "-q", "--no-checkout", src, str(mirror), cwd=Path(self._tmp.name))
            self._mirrors[src] = mirror
        return self._mirrors[src]
