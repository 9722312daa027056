"""Minimal valid stack config per tier, and writing it as a real Pulumi stack file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mlops_platform.config.loader import validate_sections
from mlops_platform.core.errors import ConfigError, ConfigIssue
from ruamel.yaml import YAML

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admins"

_BASE: dict[str, Any] = {
    "environment": {"name": "dev", "tier": "dev", "account_id": ACCOUNT, "region": "us-east-1",
                    "owners": ["ml-platform@example.com"], "cost_center": "ml-platform"},
    "network": {"cidr": "10.20.0.0/16", "availability_zones": ["us-east-1a", "us-east-1b"], "nat": "single"},
    "cluster": {"version": "1.34", "admin_principal_arns": [ADMIN]},
    "node_pools": {
        "system": {"instance_types": ["m6i.xlarge"], "min_size": 2, "desired_size": 2, "max_size": 4},
        "gpu": [{"name": "l4", "instance_types": ["g6.xlarge", "g6.2xlarge"], "capacity": "spot",
                 "min_size": 0, "desired_size": 0, "max_size": 4}],
    },
    "budget": {"monthly_usd": 5000},
    "gpu": {"max_total_gpus": 16},
}
#: What a tier needs beyond the dev base to be valid (prod: 3 AZs, a NAT per AZ).
_TIER_OVERRIDES: dict[str, dict[str, Any]] = {
    "dev": {},
    "staging": {"environment": {"name": "staging", "tier": "staging"}},
    "prod": {"environment": {"name": "prod", "tier": "prod"},
             "network": {"availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "nat": "one_per_az"}},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else (lists included) replaces."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def sections(tier: str = "dev", over: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid `mlops-platform:*` section mapping of the tier, deep-merged with `over`."""
    return merge(merge(_BASE, _TIER_OVERRIDES[tier]), over or {})


def write_stack(directory: Path, config: dict[str, Any], *, extra: dict[str, Any] | None = None,
                name: str | None = None) -> Path:
    """Write `Pulumi.<env>.yaml` (named after environment.name unless `name`) with the sections namespaced."""
    stack = name or config["environment"]["name"]
    path = directory / f"Pulumi.{stack}.yaml"
    doc = {"config": {**(extra or {}), **{f"mlops-platform:{k}": v for k, v in config.items()}}}
    with path.open("w", encoding="utf-8") as fh:
        YAML(typ="safe", pure=True).dump(doc, fh)
    return path


def issues_of(config: dict[str, Any], stack: str | None = None) -> list[ConfigIssue]:
    """Every issue validation reports for `config` (no file, no engine); empty when valid."""
    try:
        validate_sections(config, source="<test>", stack=stack)
    except ConfigError as exc:
        return exc.issues
    return []


def issue_at(issues: list[ConfigIssue], path: str) -> ConfigIssue:
    """The one issue reported at exactly `path` (fails listing all issues otherwise)."""
    found = [i for i in issues if i.path == path]
    assert len(found) == 1, f"expected one issue at {path!r}, got {[(i.path, i.message) for i in issues]}"
    return found[0]
