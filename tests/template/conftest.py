"""Fixtures of the template tests (helpers live in `support.py`).

Session-scoped (once per xdist worker): what many tests only read, or copy before changing, is made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import PRESETS, Committed, Renders, make_template_repo, template_snapshot


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The throw-away template repository (v1.0.0, v1.1.0); tests that change it change a copy."""
    return make_template_repo(tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="session")
def committed(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Committed:
    """Committed projects of `template_repo` per version: `committed.copy(tmp_path / "p", "v1.0.0")`."""
    return Committed(template_repo, tmp_path_factory.mktemp("committed"))


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    """This checkout's template rendered once per distinct answers: `renders.get(**answers)` to read,
    `renders.copy(dest, **answers)` to change."""
    return Renders(tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's template as a plain directory copier reads without cloning (`template_snapshot`)."""
    return template_snapshot(tmp_path_factory.mktemp("snapshot") / "template")


@pytest.fixture(scope="session", params=list(PRESETS))
def generated(request: pytest.FixtureRequest, renders: Renders) -> Path:
    """Each preset rendered once per test session (its tests only read it)."""
    return renders.get(**PRESETS[request.param])
