"""Adding or removing a project never touches another project's (or the platform's) resources, and every
Kubernetes resource goes through the layer's explicit provider. Plans real variants of the dev stack."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import stack_file_for
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine import runner as engine_runner
from mlops_platform.engine.recorder import RecordingMonitor
from ruamel.yaml import YAML

NEW = {"name": "new-team", "owners": ["new@example.com"], "github_repo": "example-org/new-team", "gpu_quota": 1}


def variant(tmp_path: Path, edit: Any) -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for("dev").read_text())
    edit(doc["config"]["mlops-platform:projects"])
    out = tmp_path / "Pulumi.dev.yaml"
    with out.open("w") as fh:
        yaml.dump(doc, fh)
    return out


def snapshot(plan: Plan) -> dict[str, Any]:
    return {r.urn: r.inputs for r in plan.resources}


MONITORING_RELEASE = ("urn:pulumi:dev::mlops-platform::mlops:k8s:Monitoring$kubernetes:helm.sh/v3:Release::"
                      "dev-k8s-monitoring-stack")


def without_retrain(inputs: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The monitoring release's inputs minus exactly one project's retrain route and receiver."""
    out = copy.deepcopy(inputs)
    config = out["values"]["alertmanager"]["config"]
    routes = config["route"]["routes"]
    mine = [r for r in routes if r["receiver"] == f"retrain-{namespace}"]
    assert len(mine) == 1, routes
    routes.remove(mine[0])
    config["receivers"] = [r for r in config["receivers"] if r["name"] != f"retrain-{namespace}"]
    return out


def owned_by(urn: str, project: str) -> bool:
    return f"-project-{project}" in urn.rsplit("::", 1)[1]


@pytest.mark.slow
def test_adding_a_project_only_adds_that_projects_resources(plans: dict[str, Plan], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monitors: list[RecordingMonitor] = []

    class Capturing(RecordingMonitor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            monitors.append(self)

    monkeypatch.setattr(engine_runner, "RecordingMonitor", Capturing)
    grown = run_platform(stack_file=variant(tmp_path, lambda p: p.append(NEW)))
    before, after = snapshot(plans["dev"]), snapshot(grown)
    added = set(after) - set(before)
    assert added and all(owned_by(u, "new-team") for u in added)
    assert set(before) <= set(after)
    changed = [u for u in before if before[u] != after[u]]
    # the one shared change: Alertmanager routes the new project's drift alert to its retrain webhook
    assert changed == [MONITORING_RELEASE]
    assert without_retrain(after[MONITORING_RELEASE], "new-team") == before[MONITORING_RELEASE]
    # every Kubernetes resource (and Helm release) is created through the layer's own provider
    k8s = [r for r in monitors[0].registrations if r.custom and r.type.startswith("kubernetes:")]
    assert len(k8s) > 40
    assert {r.provider.rsplit("::", 1)[0].split("$")[-1] for r in k8s} == {
        "pulumi:providers:kubernetes::dev-k8s-access-provider"}


@pytest.mark.slow
def test_removing_a_project_only_removes_that_projects_resources(plans: dict[str, Plan], tmp_path: Path) -> None:
    def drop_churn(projects: list[Any]) -> None:
        projects[:] = [p for p in projects if p["name"] != "churn-model"]

    before, after = snapshot(plans["dev"]), snapshot(run_platform(stack_file=variant(tmp_path, drop_churn)))
    removed = set(before) - set(after)
    assert removed and all(owned_by(u, "churn-model") for u in removed)
    assert set(after) <= set(before)
    assert [u for u in after if before[u] != after[u]] == [MONITORING_RELEASE]
    assert without_retrain(before[MONITORING_RELEASE], "churn-model") == after[MONITORING_RELEASE]
