"""The offline evaluator speaks the engine's protocol: Struct properties, providers, configuration, levels."""

from __future__ import annotations

import pytest
from mlops_platform.policy import Enforcement, PolicyPackConfig, evaluate
from mlops_platform.policy.evaluate import analyze_request, to_struct
from mlops_platform.policy.pack import report_outcomes
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, dig, fmt, parse_json_document, plain
from policy_plans import TAGS, Drop, Patch, U, config_for, res, urn, variant
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy


def test_properties_travel_as_the_engine_marshals_them() -> None:
    entry = res("aws:eks/nodeGroup:NodeGroup", "g", {"scalingConfig": {"maxSize": 4}, "labels": None, "x": [U]})
    request = analyze_request(entry, {})
    assert request.type == "aws:eks/nodeGroup:NodeGroup" and request.urn == entry["urn"]
    assert request.properties["scalingConfig"]["maxSize"] == 4.0  # the wire format has only doubles
    assert list(request.properties["x"]) == [U]
    assert to_struct({"a": {"b": True}})["a"]["b"] is True


def test_plain_turns_proxies_and_unknown_strings_into_sentinels() -> None:
    proxied = unknown_checking_proxy({"a": {"b": U, "c": [1, U]}, "d": "x"})
    with pytest.raises(UnknownValueError):
        _ = proxied["a"]["b"]  # what the SDK does: the first touch of an unknown aborts the policy
    data = plain(proxied)
    assert data == {"a": {"b": UNKNOWN, "c": [1, UNKNOWN]}, "d": "x"}
    assert dig(data, "a.b") is UNKNOWN and dig(data, "a.c.1") is UNKNOWN and dig(data, "a.zz") is None
    assert dig(data, "a.b.deeper") is UNKNOWN  # unknown, not absent
    with pytest.raises(TypeError, match="is_unknown"):
        bool(UNKNOWN)
    assert parse_json_document(f'{{"Statement": [{{"Resource": "{U}"}}]}}') is UNKNOWN
    assert parse_json_document("not json") is None
    assert fmt(4.0) == "4" and fmt(None) == "unset" and fmt(UNKNOWN) == "<unknown until apply>"


def test_deferrals_are_raised_after_every_definite_violation_is_reported() -> None:
    reported: list[tuple[str, str | None]] = []
    with pytest.raises(UnknownValueError) as err:
        report_outcomes([Violation("one", "urn:a"), Defer("x.y", "urn:b"), "two"],
                        lambda msg, urn=None: reported.append((msg, urn)))
    assert reported == [("one", "urn:a"), ("two", None)]
    assert err.value.message == "value(s) unknown until apply: x.y (urn:b)"


def test_provider_default_tags_count_as_resource_tags() -> None:
    provider = res("pulumi:providers:aws", "default", {"region": "us-east-1", "defaultTags": {"tags": TAGS}})
    plan = variant(Patch("key", "tags", {}), start=None)
    key = next(r for r in plan["resources"] if r["name"] == "key")
    only = config_for().model_copy(update={"default": Enforcement.DISABLED,
                                           "policies": {"required-tags": Enforcement.MANDATORY}})
    assert [d.urn for d in evaluate(plan, only).diagnostics] == [key["urn"]]
    key["provider"] = f"{provider['urn']}::0b6d4e5c"
    plan["resources"].append(provider)
    assert evaluate(plan, only).diagnostics == []


def test_levels_come_from_configure_and_disabled_policies_never_run() -> None:
    plan = variant(Patch("db", "publiclyAccessible", True), Patch("db", "storageEncrypted", False))
    cfg = PolicyPackConfig(default=Enforcement.ADVISORY, policies={"rds-storage-encrypted": Enforcement.DISABLED})
    found = {d.policy: d for d in evaluate(plan, cfg).diagnostics}
    assert found["rds-not-public"].enforcement is Enforcement.ADVISORY
    assert "rds-storage-encrypted" not in found
    result = evaluate(plan, cfg)
    assert result.levels["rds-storage-encrypted"] is Enforcement.DISABLED


def test_stack_policies_see_dependencies_and_parents() -> None:
    """A companion whose bucket name is unknown is still matched through its recorded dependency."""
    plan = variant(Patch("data-versioning", "bucket", U), Patch("data-versioning", "versioningConfiguration.status",
                                                                "Suspended"))
    only = config_for().model_copy(update={"default": Enforcement.DISABLED,
                                           "policies": {"s3-versioning": Enforcement.MANDATORY}})
    assert [d.urn for d in evaluate(plan, only).diagnostics] == [urn("aws:s3/bucket:Bucket", "data")]
    dropped = variant(Drop("data-versioning"))
    assert [d.urn for d in evaluate(dropped, only).diagnostics] == [urn("aws:s3/bucket:Bucket", "data")]
