"""MIG partitioning of `sharing: mig` pools: the NVIDIA GPU Operator (chart gpu-operator v26.3.3) with only
its MIG manager enabled, and the mig-parted config it applies per pool.

Why the operator with everything else off: the EKS AL2023 NVIDIA AMI already ships the driver and the
container toolkit, and the platform runs its own device plugin (per-pool configs, k8s/device_plugin.py) and
DCGM exporter, so the operator's driver, toolkit, device plugin, DCGM exporter, GPU feature discovery and
node-feature-discovery are all off (values keys in tests/fixtures/upstream/values/gpu-operator-v26.3.3.json).
What remains is mig-manager (plus the operator and its validator, which writes the driver/toolkit-ready
files mig-manager waits for: assets/state-mig-manager/0600_daemonset.yaml, 0420_configmap.yaml; with the
device plugin disabled the validator drops its plugin check, controllers/object_controls.go).

How a node gets partitioned: a MIG pool's nodes carry `nvidia.com/gpu.deploy.mig-manager=true` (the
DaemonSet's nodeSelector) and `nvidia.com/mig.config=pool-<name>` (`core.gpu_sharing.sharing_node_labels`);
mig-manager applies that named config of the ConfigMap below with mig-parted, pausing the GPU clients
(labels `nvidia.com/gpu.deploy.device-plugin|dcgm-exporter=paused-for-mig-change`, which the platform's
device plugin and DCGM exporter honour, k8s/gpu.py) and then reports `nvidia.com/mig.config.state`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mlops_platform.core.gpu_sharing import GpuSharing, PoolSharing, device_plugin_config_name, shared_resource

#: ConfigMap the chart creates from `migManager.config.data` (the key must be `config.yaml`: values.yaml).
MIG_CONFIG_MAP = "mlops-mig-parted-config"
#: mig-parted config of every node without a pool config: MIG off (mig-parted's own `all-disabled`).
MIG_DISABLED = "all-disabled"
#: Every operand the operator would otherwise install; the AMI, the platform's device plugin and its DCGM
#: exporter provide them (values.yaml top-level `<operand>.enabled`).
DISABLED_OPERANDS = ("driver", "toolkit", "devicePlugin", "dcgmExporter", "dcgm", "gfd", "nodeStatusExporter",
                     "gds", "gdrcopy", "vgpuManager", "vgpuDeviceManager", "vfioManager", "kataManager",
                     "sandboxDevicePlugin", "kataSandboxDevicePlugin", "ccManager")


def mig_pools(pools: Iterable[PoolSharing]) -> list[PoolSharing]:
    return [p for p in pools if p.sharing is GpuSharing.MIG]


def pool_mig_config(share: PoolSharing) -> list[dict[str, Any]]:
    """One pool's mig-parted entry: every GPU of the node MIG-enabled and cut into as many instances of
    the pool's profile as fit one GPU (the profile table is per GPU model, config rules check it)."""
    shared = shared_resource(share.sharing, share.gpu_type, mig_profile=share.mig_profile)
    if shared is None:
        raise ValueError(f"pool {share.pool} does not use MIG")
    return [{"devices": "all", "mig-enabled": True, "mig-devices": {share.mig_profile: shared.per_gpu}}]


def mig_parted_config(pools: Iterable[PoolSharing]) -> dict[str, Any]:
    """The mig-parted config file (`version: v1`, `mig-configs`: mig-parted v0.14.2 api/spec/v1/spec.go;
    schema in tests/fixtures/upstream/mig-parted-config-v1.json): `all-disabled` plus `pool-<name>` per
    MIG pool. Per pool, not per profile: one profile name can mean a different count on another GPU model
    (1g.10gb: 4 on A100-40GB, 7 on H100-80GB)."""
    configs: dict[str, Any] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False, "mig-devices": {}}]}
    configs |= {device_plugin_config_name(p.pool): pool_mig_config(p) for p in mig_pools(pools)}
    return {"version": "v1", "mig-configs": configs}


def gpu_operator_values(pools: Iterable[PoolSharing], tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    """Chart values: only mig-manager, with the platform's mig-parted config; the CRD lifecycle stays with
    the chart (`operator.upgradeCRD`), NFD off (`nfd.enabled`: its subchart's condition in Chart.yaml)."""
    config = json.dumps(mig_parted_config(pools), indent=2)  # JSON is YAML: mig-parted reads it as YAML
    values: dict[str, Any] = {operand: {"enabled": False} for operand in DISABLED_OPERANDS}
    return {**values, "nfd": {"enabled": False},
            # the default `single` would make the operator expect MIG devices as nvidia.com/gpu; the
            # platform's device plugin advertises them per profile (mixed)
            "mig": {"strategy": "mixed"},
            "daemonsets": {"tolerations": tolerations, "priorityClassName": "system-node-critical"},
            "migManager": {"enabled": True, "config": {"create": True, "name": MIG_CONFIG_MAP,
                                                        "default": MIG_DISABLED,
                                                        "data": {"config.yaml": config}}}}
