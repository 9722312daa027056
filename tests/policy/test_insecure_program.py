"""A deliberately insecure Pulumi program is caught resource by resource, through `mlplat review --program`."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from mlops_platform.cli import main
from mlops_platform.policy import preset
from mlops_platform.workflows.review import program, review

PROGRAM = Path(__file__).parent / "programs" / "insecure"
TAGGED = {"required-tags"}
EXPECTED: dict[str, set[str]] = {
    "cluster": {"eks-access-entries", "eks-control-plane-logging", "eks-private-endpoint", "eks-secrets-encryption",
                "eks-supported-version"} | TAGGED,
    "nodes": {"lt-encrypted-volumes", "lt-imds-hop-limit", "lt-imdsv2-required", "lt-no-public-ip"} | TAGGED,
    "gpus": {"eks-versions-pinned", "gpu-ami-matches-instance", "gpu-nodegroup-tainted", "nodegroup-launch-template",
             "nodegroup-no-open-ssh"} | TAGGED,
    "ssh": {"sg-no-open-ssh"} | TAGGED,
    "datasets": {"s3-access-logging", "s3-lifecycle-abort-multipart", "s3-no-public-acl", "s3-public-access-block",
                 "s3-sse-kms", "s3-tls-only", "s3-versioning"} | TAGGED,
    "datasets-policy": {"s3-no-public-principal"},
    "images": {"ecr-immutable-tags", "ecr-kms-encryption", "ecr-lifecycle-policy", "ecr-scan-on-push"} | TAGGED,
    "images-policy": {"ecr-no-public-policy"},
    "trainer": {"iam-restricted-trust"} | TAGGED,
    "trainer-everything": {"iam-no-admin", "iam-no-privilege-escalation", "iam-no-wildcard-action",
                           "iam-no-wildcard-resource"},
    "trainer-admin": {"iam-no-admin"},
    "key": {"kms-rotation", "kms-safe-key-policy"} | TAGGED,
    "training-logs": {"logs-kms-encryption", "logs-retention"} | TAGGED,
    "metadata-db": {"rds-backups", "rds-deletion-protection", "rds-not-public", "rds-storage-encrypted"} | TAGGED,
    "team": {"budget-per-project", "k8s-inference-auth", "k8s-namespace-pod-security",
             "k8s-networkpolicy-per-namespace"},
    "model": {"gpu-workload-limits", "gpu-workload-targets-pool", "gpu-workload-tolerates-taint",
              "k8s-allowed-registries", "k8s-drop-capabilities", "k8s-image-pinned", "k8s-no-host-namespaces",
              "k8s-no-host-path", "k8s-no-privilege-escalation", "k8s-no-secrets-in-env", "k8s-probes",
              "k8s-read-only-root-fs", "k8s-resources", "k8s-run-as-non-root", "k8s-seccomp",
              "k8s-serving-availability", "k8s-serving-progressive-delivery"},
    "model-lb": {"k8s-no-public-loadbalancer"},
    "dashboard": {"helm-release-pinned"},
    "insecure-ml-infra-dev": {"budget-environment", "gpu-total-cap"},  # stack-level findings
}


@pytest.mark.slow
def test_every_resource_of_the_insecure_program_is_caught() -> None:
    subject = program(PROGRAM, "dev", None, "prod")
    subject = type(subject)(subject.plan, subject.source, preset("prod").with_settings(max_total_gpus=32))
    report = review(subject)
    found: dict[str, set[str]] = defaultdict(set)
    for f in report.violations:
        found[f.urn.rsplit("::", 1)[-1]].add(f.policy)
    assert dict(found) == EXPECTED
    custom = {r["name"] for r in subject.plan["resources"] if not r["type"].startswith("pulumi:")}
    assert custom <= set(found), custom - set(found)  # nothing slips through
    assert all(f.blocking for f in report.violations) and report.unknowns == []


@pytest.mark.slow
def test_review_program_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLPLAT_ROOT", str(tmp_path))
    assert main(["review", "--program", str(PROGRAM), "--stack", "dev", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["stack"] == "dev" and data["summary"]["blocking"] == len(data["violations"]) > 60
    assert data["source"].endswith("programs/insecure/Pulumi.yaml")
