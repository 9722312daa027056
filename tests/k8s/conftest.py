"""Fixtures of the Kubernetes area shared by more than one module."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_platform.engine import Plan, run_program

#: A project program with every ModelServing strategy and mode (tests/k8s/programs/model_serving).
SERVING_PROGRAM = Path(__file__).parent / "programs" / "model_serving"


@pytest.fixture(scope="session")
def serving_plan() -> Plan:
    """The ModelServing program planned once per session (model serving and admission tests read it)."""
    return run_program(SERVING_PROGRAM)
