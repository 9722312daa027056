"""`mlplat mirror ENV`: the image copies and chart pulls of an air-gapped environment, as commands."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS
from moto_stand_in import MOTO_ACCOUNT

SECRET = f"arn:aws:secretsmanager:us-east-1:{MOTO_ACCOUNT}:secret:ecr-pullthroughcache/"
REGISTRY = f"{MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
AIR_GAPPED = {
    "network": {"nat": "none", "interface_endpoints": [*PRIVATE_NODE_ENDPOINTS, "secretsmanager", "sns"]},
    "registry": {"mirror": {"docker_hub_credential_arn": f"{SECRET}docker-hub-AbCdEf",
                            "github_credential_arn": f"{SECRET}ghcr-AbCdEf"}},
}


def test_mirror_prints_a_script_of_every_copy_and_chart_pull(make_cfg: Callable[..., Any], tmp_root: Path,
                                                              mlplat: Callable[..., tuple[int, str]]) -> None:
    make_cfg(AIR_GAPPED)
    code, out = mlplat("mirror", "dev")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1] == (f"aws ecr get-login-password --region us-east-1 | crane auth login {REGISTRY} "
                        "--username AWS --password-stdin")
    # each copy skips a tag already there (immutable tags: a re-run must not fail on them)
    guarded = [line.split(" || ") for line in lines if line.startswith("crane digest")]
    assert guarded and all(shlex.split(copy)[-1] == shlex.split(digest)[2] for digest, copy in guarded)
    copies = [shlex.split(copy)[2:] for _, copy in guarded]
    assert ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1",
            f"{REGISTRY}/mlops-dev/mirror/nvidia/k8s-device-plugin:v0.17.1"] in copies
    assert ["ghcr.io/mlflow/mlflow:v3.17.2-full", f"{REGISTRY}/mlops-dev/mirror/mlflow:v3.17.2-full"] in copies
    pulls = [line for line in lines if line.startswith("helm pull")]
    assert "helm pull oci://registry.k8s.io/kueue/charts/kueue --version 0.19.2 -d /opt/mlplat/charts" not in pulls
    assert "helm pull kserve-crd" not in out and \
        "helm pull oci://ghcr.io/kserve/charts/kserve-crd --version v0.15.2 -d /opt/mlplat/charts" in pulls
    assert ("helm pull cluster-autoscaler --version 9.53.0 --repo https://kubernetes.github.io/autoscaler "
            "-d /opt/mlplat/charts") in pulls


def test_mirror_json_lists_copies_charts_and_commands(make_cfg: Callable[..., Any], tmp_root: Path,
                                                      mlplat: Callable[..., tuple[int, str]]) -> None:
    make_cfg(AIR_GAPPED)
    code, out = mlplat("mirror", "dev", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert {c["repository"] for c in doc["copies"]} >= {"mirror/nvidia/k8s-device-plugin", "mirror/mlflow"}
    assert len(doc["charts"]) == len([c for c in doc["commands"] if c.startswith("helm pull")])


def test_mirror_of_an_environment_with_egress_is_a_usage_error(make_cfg: Callable[..., Any], tmp_root: Path,
                                                               mlplat: Callable[..., tuple[int, str]]) -> None:
    make_cfg()
    code, out = mlplat("mirror", "dev", "--json")
    assert code == 2
    error = json.loads(next(line for line in out.splitlines() if line.startswith("{")))["error"]
    assert "does not mirror its images" in error["message"] and error["exit_code"] == 2
