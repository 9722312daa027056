"""Fixtures of the template tests (helpers live in `support.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import make_template_repo


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template_repo(tmp_path_factory.mktemp("tpl"))
