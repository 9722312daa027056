"""Template versions fetched, cloned and rendered once per `mlplat fleet check`, not once per project.

Checking a project renders its recorded template version with its recorded answers. Rendering each project
straight from the source makes copier clone the template for every project, and each project asked
`git ls-remote` for the releases. A `Snapshots` lets copier clone each recorded version once (copier keeps a
local mirror of a remote source itself; a local source is cloned from where it is), and renders each distinct
(version, answers) once: projects that record the same version and answers share one render, the others share
the clone. A render is byte for byte what `copier copy` renders, its answers file included.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from packaging.version import Version

from mlops_platform.scaffold.templating import (
    Template,
    git,
    release_tags,
    release_version,
    render_version,
    template_version,
)


class Snapshots:
    """Template versions, renders and release lists for one batch; a context manager (temp files)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mlplat-templates-")
        self._releases: dict[str, list[tuple[Version, str]]] = {}
        self._heads: dict[str, str] = {}
        self._versions: dict[tuple[str, str], Template] = {}
        self._renders: dict[tuple[str, str, str], Path] = {}

    def __enter__(self) -> Snapshots:
        return self

    def __exit__(self, *_: object) -> None:
        for version in self._versions.values():
            release_version(version)
        self._tmp.cleanup()

    def releases(self, src: str) -> list[tuple[Version, str]]:
        """`release_tags(src)`, asked once per source."""
        if src not in self._releases:
            self._releases[src] = release_tags(src)
        return self._releases[src]

    def head(self, src: str) -> str:
        """The commit `src`'s HEAD points at ('' for an empty repository), asked once per source."""
        if src not in self._heads:
            line = git("ls-remote", src, "HEAD", cwd=Path(self._tmp.name)).split()
            self._heads[src] = line[0] if line else ""
        return self._heads[src]

    def render(self, src: str, commit: str, answers: Mapping[str, Any]) -> Path:
        """The template `src` at `commit` rendered with `answers` (a directory to read, not to change)."""
        key = (src, commit, json.dumps(answers, sort_keys=True, default=str))
        if key not in self._renders:
            if (src, commit) not in self._versions:
                self._versions[(src, commit)] = template_version(src, commit)
            dest = Path(self._tmp.name) / "renders" / str(len(self._renders))
            render_version(dest, answers, self._versions[(src, commit)])
            self._renders[key] = dest
        return self._renders[key]
