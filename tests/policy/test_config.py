"""Per-environment policy configuration: schema, presets, levels, and the Pulumi config document."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from mlops_platform.core.errors import ConfigError, UsageError
from mlops_platform.policy import Enforcement, PolicyPackConfig, Severity, all_specs, preset
from mlops_platform.policy.config import PRESETS, SCHEMA_FILE, schema_document
from mlops_platform.policy.config_files import load_config, parse_config, to_pulumi_config
from mlops_platform.policy.evaluate import analyzer, check_config_schemas
from ruamel.yaml import YAML


def test_committed_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == json.loads(json.dumps(schema_document())), "regenerate config.schema.json"


def test_the_schema_carries_every_default_and_descriptions_never_restate_one() -> None:
    defs = schema_document()["$defs"]
    for model in ("PolicySettings", "GpuPoolSetting"):
        for name, prop in defs[model]["properties"].items():
            assert "Default:" not in prop.get("description", ""), f"{model}.{name}: drop the restated default"
            assert prop.get("description"), f"{model}.{name}: undocumented"
            if name not in defs[model].get("required", []):
                assert "default" in prop, f"{model}.{name}: its default does not reach the schema"
                if prop["default"] is None:
                    assert "Unset:" in prop["description"], f"{model}.{name}: say what unset means"
    top = schema_document()["properties"]
    assert not [n for n, p in top.items() if "Default:" in p.get("description", "")]


@pytest.mark.parametrize("tier", PRESETS)
def test_presets_validate_against_the_schema(tier: str) -> None:
    path = SCHEMA_FILE.parent / "presets" / f"{tier}.yaml"
    data = YAML(typ="safe").load(path.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_FILE.read_text()))
    # and the model reads what the file says: its default level and every setting it sets, unchanged
    loaded = preset(tier)
    assert loaded.default.value == data["default"]
    assert {k: getattr(loaded.settings, k) for k in data.get("settings", {})} == data.get("settings", {})


def test_dev_advises_staging_blocks_above_low_prod_blocks_everything() -> None:
    for spec in all_specs():
        assert preset("dev").level(spec.name, spec.severity) is Enforcement.ADVISORY
        assert preset("prod").level(spec.name, spec.severity) is Enforcement.MANDATORY
        expected = Enforcement.ADVISORY if spec.severity is Severity.LOW else Enforcement.MANDATORY
        assert preset("staging").level(spec.name, spec.severity) is expected


def test_policy_level_beats_severity_level_beats_default() -> None:
    cfg = PolicyPackConfig(default=Enforcement.ADVISORY, severity={Severity.HIGH: Enforcement.MANDATORY},
                           policies={"eks-private-endpoint": Enforcement.DISABLED})
    assert cfg.level("eks-private-endpoint", Severity.HIGH) is Enforcement.DISABLED
    assert cfg.level("lt-imds-hop-limit", Severity.HIGH) is Enforcement.MANDATORY
    assert cfg.level("logs-retention", Severity.LOW) is Enforcement.ADVISORY


def test_bad_documents_name_file_path_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("default: blocking\nsettings:\n  max_total_gpus: -1\n  colour: red\npolicies:\n  nope: advisory\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    text = err.value.render()
    assert str(bad) in text and "default" in text and "'blocking'" in text
    assert "settings.max_total_gpus" in text and "settings.colour" in text
    good_levels = bad.with_name("names.yaml")
    good_levels.write_text("policies:\n  nope: advisory\n")
    with pytest.raises(ConfigError, match=r"policies\.nope: no such policy"):
        load_config(good_levels)
    with pytest.raises(UsageError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config(["a"], "inline")


def test_pulumi_config_carries_each_policy_level_and_only_its_settings() -> None:
    cfg = preset("staging").with_settings(max_total_gpus=48)
    doc = to_pulumi_config(cfg)
    assert set(doc) == {s.name for s in all_specs()}
    assert doc["gpu-total-cap"] == {"enforcementLevel": "mandatory", "max_total_gpus": 48}
    assert doc["logs-retention"] == {"enforcementLevel": "advisory", "min_log_retention_days": 90}
    assert "max_total_gpus" not in doc["eks-private-endpoint"]
    check_config_schemas(analyzer().GetAnalyzerInfo(None, None), doc, "generated")  # the engine would accept it


def test_engine_style_schema_check_rejects_bad_property_types() -> None:
    doc = to_pulumi_config(PolicyPackConfig())
    doc["logs-retention"]["min_log_retention_days"] = "ninety"
    with pytest.raises(ConfigError, match="logs-retention"):
        check_config_schemas(analyzer().GetAnalyzerInfo(None, None), doc, "hand-written.json")
