"""Fixtures of the template tests (helpers live in `support.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import PRESETS, make_template_repo, render


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template_repo(tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="session", params=list(PRESETS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each preset rendered once per test session (its tests only read it)."""
    return render(tmp_path_factory.mktemp(request.param) / "project", **PRESETS[request.param])
