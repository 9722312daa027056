"""Layer 1: what a node group is built from — `pool_spec` and the cluster-autoscaler tags."""

from __future__ import annotations

import pytest
from mlops_platform.aws.nodepools import ACCELERATOR_LABEL, autoscaler_tags, pool_spec
from mlops_platform.config.sections import Capacity, GpuPoolConfig, SystemPoolConfig
from mlops_platform.core import contract, instances

CA = "k8s.io/cluster-autoscaler"
GPU_TYPES = [n for n in instances.known_types(gpu=True)]


def test_gpu_pool_spec_taints_labels_and_counts_gpus() -> None:
    pool = GpuPoolConfig(name="l4", instance_types=["g6.xlarge", "g6.12xlarge"], capacity=Capacity.SPOT,
                         max_size=3, labels={"team.example.com/owner": "vision"})
    spec = pool_spec(pool)
    assert spec.taints == [("nvidia.com/gpu", "true", "NO_SCHEDULE")]
    assert spec.labels == {"team.example.com/owner": "vision", contract.POOL_LABEL: "l4",
                           contract.GPU_TYPE_LABEL: "l4", "nvidia.com/gpu.present": "true",
                           ACCELERATOR_LABEL: "nvidia-l4"}
    assert spec.gpus_per_node == 4  # the largest type decides what one node can offer
    assert (spec.capacity_type, spec.ami_type, spec.max_size) == ("SPOT", "AL2023_x86_64_NVIDIA", 3)
    assert spec.disk_size_gib == 200


def test_system_pool_spec_has_no_taint_no_gpu_labels() -> None:
    spec = pool_spec(SystemPoolConfig())
    assert spec.taints == []
    assert spec.labels == {contract.POOL_LABEL: "system"}
    assert spec.gpus_per_node == 0
    assert (spec.capacity_type, spec.ami_type, spec.instance_types) == ("ON_DEMAND", "AL2023_x86_64_STANDARD",
                                                                         ["m6i.xlarge"])
    assert (spec.min_size, spec.desired_size, spec.max_size, spec.disk_size_gib) == (2, 2, 6, 50)


def test_platform_labels_win_over_user_labels() -> None:
    pool = GpuPoolConfig.model_construct(name="l4", instance_types=["g6.xlarge"], capacity=Capacity.ON_DEMAND,
                                         min_size=0, desired_size=0, max_size=1, disk_size_gib=200,
                                         ami_type="AL2023_x86_64_NVIDIA", labels={contract.POOL_LABEL: "spoofed"})
    assert pool_spec(pool).labels[contract.POOL_LABEL] == "l4"


@pytest.mark.parametrize("itype", GPU_TYPES)
def test_every_catalog_gpu_type_yields_its_model_label_and_gpu_count(itype: str) -> None:
    entry = instances.lookup(itype)
    assert entry is not None and entry.gpu_type is not None
    ami = "AL2023_ARM_64_NVIDIA" if entry.arch is instances.Arch.ARM64 else "AL2023_x86_64_NVIDIA"
    spec = pool_spec(GpuPoolConfig(name="p", instance_types=[itype], ami_type=ami))
    tags = autoscaler_tags("mlops-dev", spec)
    assert spec.labels[contract.GPU_TYPE_LABEL] == entry.gpu_type.value
    assert tags[f"{CA}/node-template/resources/nvidia.com/gpu"] == str(entry.gpus)


def test_autoscaler_tags_let_a_gpu_pool_scale_up_from_zero() -> None:
    spec = pool_spec(GpuPoolConfig(name="a10g", instance_types=["g5.12xlarge"]))
    tags = autoscaler_tags("mlops-dev", spec)
    assert tags == {
        f"{CA}/enabled": "true",
        f"{CA}/mlops-dev": "owned",
        f"{CA}/node-template/label/{contract.POOL_LABEL}": "a10g",
        f"{CA}/node-template/label/{contract.GPU_TYPE_LABEL}": "a10g",
        f"{CA}/node-template/label/nvidia.com/gpu.present": "true",
        f"{CA}/node-template/label/{ACCELERATOR_LABEL}": "nvidia-a10g",
        f"{CA}/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{CA}/node-template/resources/nvidia.com/gpu": "4",
    }


def test_taint_tag_uses_the_kubernetes_effect_name_from_the_contract() -> None:
    tags = autoscaler_tags("c", pool_spec(GpuPoolConfig(name="x", instance_types=["g6.xlarge"])))
    value = f"{contract.GPU_TAINT_VALUE}:{contract.GPU_TAINT_EFFECT}"
    assert tags[f"{CA}/node-template/taint/{contract.GPU_TAINT_KEY}"] == value


def test_system_pool_autoscaler_tags_carry_no_taint_or_gpu_resource() -> None:
    tags = autoscaler_tags("mlops-prod", pool_spec(SystemPoolConfig()))
    assert tags == {f"{CA}/enabled": "true", f"{CA}/mlops-prod": "owned",
                    f"{CA}/node-template/label/{contract.POOL_LABEL}": "system"}
