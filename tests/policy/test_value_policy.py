"""The declarative single-value check, without an engine: what passes, what is reported, what is deferred."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from mlops_platform.policy.config import PolicySettings
from mlops_platform.policy.pack import spec
from mlops_platform.policy.registry import OnUnknown
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, fmt
from mlops_platform.policy.value_policy import ValueCheck

SETTINGS = PolicySettings()
PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "mlops_platform"


def _run(check: ValueCheck, props: dict, settings: PolicySettings = SETTINGS) -> list:
    return list(check(Res("urn:x", "t", "n", props), settings))


@pytest.mark.parametrize(("expected", "value", "ok"), [
    (True, True, True), (True, False, False), (True, None, False), (True, "true", False),
    (False, False, True), (False, None, True), (False, True, False),
    (1, 1.0, True), (1, 2.0, False), (1, None, False),
    (("A", "B"), "B", True), (("A", "B"), "C", False), (("A", "B"), None, False),
])
def test_expected_values(expected: object, value: object, ok: bool) -> None:
    found = _run(ValueCheck("a.b", expected, ": why"), {"a": {"b": value}})  # type: ignore[arg-type]
    assert found == ([] if ok else [f"a.b is {fmt(value)}: why"])


def test_unknown_defers_or_passes() -> None:
    props = {"a": UNKNOWN}
    assert _run(ValueCheck("a", True), props) == [Defer("a")]
    assert _run(ValueCheck("a", True, on_unknown=OnUnknown.PASS), props) == []


def test_a_setting_switches_the_check_on() -> None:
    check = ValueCheck("deletionProtection", True, enabled_by="require_rds_deletion_protection")
    off = PolicySettings(require_rds_deletion_protection=False)
    on = PolicySettings(require_rds_deletion_protection=True)
    assert _run(check, {"deletionProtection": False}, off) == []
    assert _run(check, {"deletionProtection": False}, on) == [f"deletionProtection is {fmt(False)}"]


def test_declared_policies_keep_their_metadata() -> None:
    declared = spec("rds-deletion-protection")
    assert isinstance(declared.check, ValueCheck)
    assert declared.settings == ("require_rds_deletion_protection",)
    assert declared.on_unknown is OnUnknown.DEFER
    for name in ("rds-storage-encrypted", "rds-not-public", "ecr-immutable-tags", "ecr-scan-on-push",
                 "lt-imds-hop-limit"):
        assert isinstance(spec(name).check, ValueCheck), name


PRIVATE = ("_DictProxy", "_ListProxy", "_PolicyAnalyzerServicer", "pulumi_policy.proxy")


def test_only_the_adapter_touches_the_policy_sdks_private_api() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pulumi_policy"):
                names = {node.module, *(a.name for a in node.names)}
                if names & set(PRIVATE):
                    offenders.append(str(path.relative_to(PACKAGE)))
    assert set(offenders) == {"policy/sdk/analyzer.py"}
