"""The instance catalog's large GPU types against the EC2 facts recorded in
tests/fixtures/upstream/ec2-gpu-instance-types.json (DescribeInstanceTypes as aws/karpenter-provider-aws publishes
it, and the AWS Pricing API's us-east-1 on-demand rates it generates), and what the new types change: their
GPU model label, MIG profiles and EFA interfaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.aws.training_placement import efa_interface_count
from mlops_platform.config import load_env
from mlops_platform.config.rules import check_rules
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import instances
from mlops_platform.core.gpu_sharing import MIG_PROFILES
from mlops_platform.core.instances import GpuType

FACTS = json.loads((Path(__file__).parents[1] / "fixtures" / "upstream" / "ec2-gpu-instance-types.json").read_text())
TYPES: dict[str, dict[str, Any]] = FACTS["types"]
#: GPU model of the catalog → (Karpenter `instance-gpu-name`, per-GPU memory in MiB): one label per memory size,
#: since MIG profiles follow the memory (NVIDIA MIG user guide).
MODELS = {GpuType.A100: ("a100", 40960), GpuType.A100_80GB: ("a100", 81920), GpuType.H100: ("h100", 81920),
          GpuType.H200: ("h200", 144384)}


@pytest.mark.parametrize("name", [n for n, f in TYPES.items() if f["us_east_1_on_demand_usd_hour"] is not None])
def test_catalog_rows_are_the_ec2_facts(name: str) -> None:
    facts, row = TYPES[name], instances.lookup(name)
    assert row is not None, name
    assert (row.vcpus, row.memory_gib * 1024, row.gpus, row.efa_interfaces) == (
        facts["instance-cpu"], facts["instance-memory_mib"], facts["instance-gpu-count"],
        facts["vpc.amazonaws.com/efa"])
    assert row.gpu_type is not None and MODELS[row.gpu_type] == (facts["instance-gpu-name"],
                                                               facts["instance-gpu-memory_mib"])
    assert row.price_usd_hour == pytest.approx(facts["us_east_1_on_demand_usd_hour"], abs=0.001)
    assert row.quota_family is instances.QuotaFamily.P


def test_p5e_stays_out_until_it_has_an_on_demand_rate() -> None:
    """The cost model prices every type a pool may name; AWS publishes no us-east-1 on-demand rate for p5e."""
    assert TYPES["p5e.48xlarge"]["us_east_1_on_demand_usd_hour"] is None
    assert instances.lookup("p5e.48xlarge") is None


def _issues(**pool_kw: Any) -> list[Any]:
    cfg = load_env("dev")
    pool = GpuPoolConfig.model_validate({"name": "big", "max_size": 1, **pool_kw})
    pools = cfg.node_pools.model_copy(update={"gpu": [pool]})
    return [i for i in check_rules(cfg.model_copy(update={"node_pools": pools})) if i.path.startswith("node_pools")]


def test_the_80gb_a100_and_the_h200_cut_into_their_own_mig_profiles() -> None:
    assert _issues(instance_types=["p4de.24xlarge"], sharing="mig", mig_profile="1g.10gb") == []
    (issue,) = _issues(instance_types=["p4de.24xlarge"], sharing="mig", mig_profile="1g.5gb")  # a 40 GB profile
    assert issue.path == "node_pools.gpu[0].mig_profile" and "not a MIG profile of a100-80gb GPUs" in issue.message
    assert _issues(instance_types=["p5en.48xlarge"], sharing="mig", mig_profile="1g.18gb") == []
    assert list(MIG_PROFILES[GpuType.H200]) == ["1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"]


def test_a_pool_mixing_gpu_models_of_different_efa_counts_gets_the_smallest() -> None:
    assert efa_interface_count(["p5en.48xlarge"]) == 16
    assert efa_interface_count(["p5.48xlarge", "p5en.48xlarge"]) == 16  # one launch template fits both
    assert efa_interface_count(["p4de.24xlarge"]) == 4
