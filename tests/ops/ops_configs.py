"""Stack sections the ops tests start from (moto's account, us-east-1, one spot GPU pool)."""

from __future__ import annotations

import copy
from typing import Any

from moto_stand_in import MOTO_ACCOUNT

BASE: dict[str, Any] = {
    "environment": {"name": "dev", "tier": "dev", "account_id": MOTO_ACCOUNT, "region": "us-east-1",
                    "owners": ["ml-platform@example.com"], "cost_center": "ml-dev"},
    "network": {"availability_zones": ["us-east-1a", "us-east-1b"], "nat": "single"},
    "cluster": {"version": "1.34", "admin_principal_arns": [f"arn:aws:iam::{MOTO_ACCOUNT}:role/admins"]},
    "node_pools": {
        "system": {"instance_types": ["m6i.xlarge"], "min_size": 2, "desired_size": 2, "max_size": 4},
        "gpu": [{"name": "l4", "instance_types": ["g6.xlarge"], "capacity": "spot",
                 "min_size": 0, "desired_size": 0, "max_size": 4}],
    },
    "budget": {"monthly_usd": 5000},
    "gpu": {"max_total_gpus": 64},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
