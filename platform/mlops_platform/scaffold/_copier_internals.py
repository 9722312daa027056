"""Every use of copier's internals, in one place. copier's public API is `run_copy`/`run_update`; a batch
(`templating.render_version`) needs to clone a template version once and render it many times, which only
its internal `Worker` and `Template` allow.

Checked against copier 9.19.1 (`pyproject.toml` requires >=9.19,<10). `SEAMS` names each internal this
module relies on; tests/template/test_update.py fails when one disappears or changes kind, so a copier bump
that renames one is caught instead of silently cloning again or losing the git-index saving.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from copier._main import Worker
from copier._template import Template

#: The copier release these seams were read in.
CHECKED_AGAINST = "9.19.1"
#: (class, attribute, what it must be): the internals this module overrides, sets or calls.
SEAMS: tuple[tuple[type, str, type], ...] = (
    (Worker, "_sync_git_index_executable_bit", type(lambda: None)),  # overridden by NewRender
    (Worker, "template", cached_property),  # set through the instance __dict__ by use_clone
    (Template, "_cleanup", type(lambda: None)),  # called by release
    (Template, "local_abspath", cached_property),  # where a Template clones its version, once
)

__all__ = ["CHECKED_AGAINST", "SEAMS", "NewRender", "Template", "release", "use_clone"]


class NewRender(Worker):
    """copier's `run_copy` into a new directory. After writing each file copier syncs its mode into the git
    index of a repository around the destination, spawning `git config` once per file to find out; for a new
    directory that is a no-op by copier's own rule (no repository, or files no index tracks yet) — and about
    a third of a render's CPU."""

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        return None


def use_clone(worker: Worker, version: Template) -> None:
    """Make `worker` render from `version`'s clone: `template` is copier's cached property, so setting it
    before first use skips the clone; the worker leaves removing it to the owner (copier only cleans up the
    templates it made itself)."""
    worker.__dict__["template"] = version


def release(version: Template) -> None:
    """Remove `version`'s clone (copier's own cleanup of a Template)."""
    version._cleanup()
