"""Peer scanners as oracles over what every shipped environment plans.

- checkov (kubernetes framework) over every planned Kubernetes object (Helm releases are values, not
  manifests, and are left to the pack's chart tests);
- parliament over every planned IAM policy document (identity policies, trust policies, key and
  bucket policies).

A finding fails the suite unless `accepted_findings.yaml` lists it with a reason; an accepted finding no
scanner reports any more fails too, so the list never outlives its reasons. A control, scanned in the same
run as the platform's objects (one start of each scanner per test run), proves each scanner really flags
something here. Neither scanner can share the platform's venv (checkov caps
`packaging` below what pulumi needs; parliament imports `pkg_resources`, gone from current setuptools), so
both run isolated through uv (pinned, from PyPI on first use), as the template suite runs checkov.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import shipped_envs
from mlops_platform.engine import Plan
from ruamel.yaml import YAML

# one group: the module-scoped scanner runs happen once per test run, not once per xdist worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("oracles")]

CHECKOV = "checkov==3.3.30"
#: parliament imports pkg_resources, gone from the setuptools the platform's dependencies pull: its own env too
PARLIAMENT = ("parliament==1.6.4", "setuptools<81")
UV = Path(sys.executable).with_name("uv")
ACCEPTED = Path(__file__).with_name("accepted_findings.yaml")
SECRET = "[secret]"


def accepted(oracle: str) -> list[tuple[str, str]]:
    """(check, subject glob) of the accepted findings of one oracle; each entry must give its reason."""
    entries = YAML(typ="safe").load(ACCEPTED.read_text())[oracle] or []
    assert all(str(e.get("reason", "")).strip() for e in entries), f"{ACCEPTED.name}: every entry needs a reason"
    return [(e["check"], e["subject"]) for e in entries]


def judge(found: set[tuple[str, str]], oracle: str) -> None:
    """Every finding is accepted, and every acceptance still matches a finding (none outlives its reason)."""
    known = accepted(oracle)
    unaccepted = sorted(f for f in found if not any(f[0] == c and fnmatch.fnmatchcase(f[1], g) for c, g in known))
    stale = [k for k in known if not any(f[0] == k[0] and fnmatch.fnmatchcase(f[1], k[1]) for f in found)]
    assert unaccepted == [], f"{oracle} findings not in {ACCEPTED.name}: {unaccepted}"
    assert stale == [], f"{ACCEPTED.name} lists {oracle} findings no longer reported"


# ---------------------------------------------------------------- checkov over the planned manifests
def integral(value: Any) -> Any:
    """The offline plan records numbers as floats (protobuf Struct); the API server receives 10001, not
    10001.0, and checkov's numeric checks compare integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def manifests(plan: Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    """(subject, object) of every planned Kubernetes object; subject = kind/namespace/name."""
    for res in plan.resources:
        if not res.type.startswith("kubernetes:") or res.type.startswith("kubernetes:helm"):
            continue
        obj = {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec", "data",
                                                            "stringData", "type", "rules", "subjects", "roleRef")}
        for key in ("stringData", "data"):
            if obj.get(key) == SECRET:
                obj[key] = {"masked": "x"}
        meta = obj.get("metadata") or {}
        yield f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}", integral(obj)


def checkov(directory: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run([str(UV), "tool", "run", "--from", CHECKOV, "checkov", "-d", str(directory),
                           "--framework", "kubernetes", "--skip-download", "--compact", "--quiet", "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode in (0, 1), f"checkov failed to run:\n{done.stderr[-3000:]}"
    reports = json.loads(done.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    return [f for r in reports for f in r["results"]["failed_checks"]]


#: The object checkov must flag, scanned in the same run as the platform's (a second checkov start costs seconds).
CONTROL_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "x"},
               "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]}}
CONTROL = "control"


@pytest.fixture(scope="module")
def checkov_findings(plans: dict[str, Plan], tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    """(check id, subject) over every environment's objects and the control pod (subject `control`), from one
    checkov run; one file per object, named by its position and mapped back to its subject."""
    root = tmp_path_factory.mktemp("checkov")
    names: dict[str, str] = {}
    objects = [(subject, obj) for env in shipped_envs() for subject, obj in manifests(plans[env])]
    for subject, obj in [*objects, (CONTROL, CONTROL_POD)]:
        file = root / f"{len(names):04d}.yaml"
        names[file.name] = subject
        with file.open("w") as out:
            YAML().dump(obj, out)
    return {(f["check_id"], names[Path(f["file_path"]).name]) for f in checkov(root)}


def test_checkov_finds_nothing_unaccepted_in_any_environments_manifests(
        checkov_findings: set[tuple[str, str]]) -> None:
    judge({f for f in checkov_findings if f[1] != CONTROL}, "checkov")


def test_checkov_control_flags_a_privileged_pod(checkov_findings: set[tuple[str, str]]) -> None:
    """Without this, a checkov that silently scans nothing would pass the test above."""
    assert ("CKV_K8S_16", CONTROL) in checkov_findings


# ---------------------------------------------------------------- parliament over the planned IAM documents
def iam_documents(plan: Plan) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(subject, kind, document) of every planned JSON policy; kind = identity | resource."""
    for res in plan.resources:
        for key, value in res.inputs.items():
            if isinstance(value, str) and value.lstrip().startswith("{") and '"Statement"' in value:
                doc = json.loads(value)
                kind = "identity" if key == "policy" and res.type.startswith("aws:iam/") else "resource"
                yield f"{res.name}.{key}", kind, doc


def parliament(documents: list[tuple[str, dict[str, Any]]]) -> set[tuple[str, str]]:
    """(issue, subject) of every finding over the documents, in one run of parliament_runner.py."""
    withs = [arg for req in PARLIAMENT for arg in ("--with", req)]
    done = subprocess.run([str(UV), "run", "--no-project", *withs, "python",
                           str(Path(__file__).with_name("parliament_runner.py"))],
                          input=json.dumps(documents), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"parliament failed to run:\n{done.stderr[-3000:]}"
    return {(issue, subject) for issue, subject in json.loads(done.stdout)}


#: What parliament must flag (RESOURCE_MISMATCH: an object action on a bucket ARN), in the same run.
CONTROL_DOCUMENT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket"}]}


@pytest.fixture(scope="module")
def parliament_findings(plans: dict[str, Plan], karpenter_plan: Plan) -> set[tuple[str, str]]:
    """(issue, subject) over every environment's documents, the Karpenter variant's and the control document
    (subject `control`), from one parliament run."""
    documents = [(f"{env}:{subject}", doc) for env in shipped_envs() for subject, _, doc in iam_documents(plans[env])]
    assert len(documents) > 60, "every environment's roles, trusts, key and bucket policies are analysed"
    # gpu.provisioner: karpenter adds the controller's and nodes' roles and the interruption queue's policy
    karpenter = [(f"karpenter:{s}", doc) for s, _, doc in iam_documents(karpenter_plan) if "karpenter" in s]
    assert len(karpenter) == 4
    return parliament([*documents, *karpenter, (CONTROL, CONTROL_DOCUMENT)])


def test_parliament_finds_nothing_unaccepted_in_any_environments_iam_documents(
        parliament_findings: set[tuple[str, str]]) -> None:
    judge({f for f in parliament_findings if f[1] != CONTROL}, "parliament")


def test_parliament_control_flags_a_bad_document(parliament_findings: set[tuple[str, str]]) -> None:
    """Without this, a parliament that silently analyses nothing would pass the test above."""
    assert {issue for issue, subject in parliament_findings if subject == CONTROL} >= {"RESOURCE_MISMATCH"}
