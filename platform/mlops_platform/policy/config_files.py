"""Policy configuration documents: files, the shipped tier presets, and the engine's config document.

Above the pack (`pack.py`), because a document is checked against the registered policy names; the
models themselves live in `config.py`, below the registry, so policies can read their settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAMLError

from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from mlops_platform.core.files import load_yaml, read_text
from mlops_platform.policy.config import PRESETS, PolicyPackConfig
from mlops_platform.policy.pack import all_specs


def parse_config(data: Any, source: str) -> PolicyPackConfig:
    """Validate a configuration document; every problem is reported as file: dotted.path: message."""
    if not isinstance(data, Mapping):
        raise ConfigError([ConfigIssue("<root>", "expected a mapping", type(data).__name__,
                                       "see config.schema.json", source)], source)
    try:
        cfg = PolicyPackConfig.model_validate(data)
    except ValidationError as exc:
        issues = [ConfigIssue(".".join(str(p) for p in err["loc"]) or "<root>", err["msg"],
                              err.get("input") if not isinstance(err.get("input"), dict) else None,
                              "see platform/mlops_platform/policy/config.schema.json", source)
                  for err in exc.errors()]
        raise ConfigError(issues, source) from None
    _check_policy_names(cfg, source)
    return cfg


def _check_policy_names(cfg: PolicyPackConfig, source: str) -> None:
    known = {s.name for s in all_specs()}
    issues = [ConfigIssue(f"policies.{name}", "no such policy", name, "run `mlplat policy list`", source)
              for name in cfg.policies if name not in known]
    if issues:
        raise ConfigError(issues, source)


def load_config(path: Path) -> PolicyPackConfig:
    """A configuration file (YAML or JSON)."""
    text = read_text(path, "policy configuration file", "pass an existing file")
    try:
        data = load_yaml(text, path, "policy configuration file")
    except YAMLError as exc:
        raise ConfigError([ConfigIssue("<root>", f"not valid YAML/JSON: {exc}", file=str(path))],
                          str(path)) from None
    return parse_config(data, str(path))


@cache
def preset(tier: str) -> PolicyPackConfig:
    """The shipped configuration of a tier: dev (advisory), staging and prod (mandatory)."""
    if tier not in PRESETS:
        raise UsageError(f"no policy preset {tier!r} — fix: use one of {', '.join(PRESETS)}")
    ref = resources.files("mlops_platform.policy").joinpath(f"presets/{tier}.yaml")
    with resources.as_file(ref) as path:
        return load_config(path)


def to_pulumi_config(cfg: PolicyPackConfig) -> dict[str, dict[str, Any]]:
    """The `pulumi preview --policy-pack-config` document: per policy its level, its settings and its waivers."""
    settings = json.loads(cfg.settings.model_dump_json())
    out: dict[str, dict[str, Any]] = {}
    for spec in all_specs():
        entry: dict[str, Any] = {"enforcementLevel": cfg.level(spec.name, spec.severity).value}
        entry.update({k: settings[k] for k in spec.settings if settings.get(k) is not None})
        waivers = [w.model_dump(mode="json") for w in cfg.waivers if w.policy == spec.name]
        if waivers:  # the pack reads them back (pack.waivers_from) and skips the violations they cover
            entry["waivers"] = waivers
        out[spec.name] = entry
    return out
