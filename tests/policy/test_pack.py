"""The real pack directory: what `pulumi preview --policy-pack platform/policypack` loads."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from mlops_platform.policy import all_specs
from mlops_platform.policy.evaluate import analyzer
from pulumi.runtime import proto
from ruamel.yaml import YAML

PACK = Path(__file__).resolve().parents[2] / "platform" / "policypack"


def test_pack_directory_is_a_python_policy_pack() -> None:
    manifest = YAML(typ="safe").load((PACK / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python" and manifest["description"]
    requirements = (PACK / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements and "pydantic" in requirements


def test_main_only_builds_the_policy_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.append(kwargs))
    runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    assert len(built) == 1
    pack = built[0]
    assert pack["name"] == "mlops-platform"
    assert [p.name for p in pack["policies"]] == [s.name for s in all_specs()]
    assert pack["enforcement_level"] is pulumi_policy.EnforcementLevel.MANDATORY


def test_analyzer_info_advertises_metadata_the_engine_shows() -> None:
    info = analyzer().GetAnalyzerInfo(None, None)
    assert info.name == "mlops-platform" and info.supportsConfig
    by_name = {p.name: p for p in info.policies}
    assert set(by_name) == {s.name for s in all_specs()}
    for spec in all_specs():
        policy = by_name[spec.name]
        assert policy.remediation_steps == spec.remediation and policy.url == spec.url
        assert policy.severity != proto.POLICY_SEVERITY_UNSPECIFIED
        assert policy.enforcementLevel == proto.MANDATORY  # secure default when no config is given
        kind = proto.PolicyType.POLICY_TYPE_STACK if spec.kind == "stack" else proto.PolicyType.POLICY_TYPE_RESOURCE
        assert policy.policy_type == kind
        # every policy also takes the live `waivers` `mlplat up` hands it (the engine rejects undeclared config)
        assert set(policy.configSchema.properties) == {*spec.settings, "waivers"}
        if spec.compliance:
            assert policy.framework.name == spec.compliance[0].framework
            assert policy.framework.reference == spec.compliance[0].reference
