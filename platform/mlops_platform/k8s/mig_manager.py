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
DaemonSet's nodeSelector), `nvidia.com/mig.config=all-<profile>`, the validator's deploy label and the labels
NFD would set, without which the operator deploys nothing (`core.gpu_sharing.sharing_node_labels`);
mig-manager applies that named config of the ConfigMap below with mig-parted, pausing the GPU clients
(labels `nvidia.com/gpu.deploy.device-plugin|dcgm-exporter=paused-for-mig-change`, which the platform's
device plugin and DCGM exporter honour, k8s/gpu.py) and then reports `nvidia.com/mig.config.state`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mlops_platform.core.gpu_sharing import MIG_DEVICE_IDS, GpuSharing, PoolSharing, shared_resource

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


def profile_config(profile: str, shares: Iterable[PoolSharing]) -> list[dict[str, Any]]:
    """The mig-parted entries of config `all-<profile>`: every GPU MIG-enabled and cut into as many instances
    of the profile as fit one GPU, one entry per GPU model of the pools using it, each limited to that model's
    device id (one profile name can mean another count on another model: 1g.10gb is 4 on an A100 40 GB, 7 on
    an H100 80 GB), as NVIDIA's own default config does."""
    entries: dict[str, dict[str, Any]] = {}
    for share in shares:
        shared = shared_resource(share.sharing, share.gpu_type, mig_profile=profile)
        if shared is None or share.gpu_type is None:
            raise ValueError(f"pool {share.pool} does not use MIG on a known GPU")
        entries[MIG_DEVICE_IDS[share.gpu_type]] = {
            "device-filter": [MIG_DEVICE_IDS[share.gpu_type]], "devices": "all", "mig-enabled": True,
            "mig-devices": {profile: shared.per_gpu}}
    return list(entries.values())


def mig_parted_config(pools: Iterable[PoolSharing]) -> dict[str, Any]:
    """The mig-parted config file (`version: v1`, `mig-configs`: mig-parted v0.14.2 api/spec/v1/spec.go;
    schema in tests/fixtures/upstream/mig-parted-config-v1.json): `all-disabled` plus `all-<profile>` per
    profile the MIG pools use, the names NVIDIA's default config gives them (and the node label carries)."""
    configs: dict[str, Any] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    by_profile: dict[str, list[PoolSharing]] = {}
    for share in mig_pools(pools):
        by_profile.setdefault(share.mig_profile or "", []).append(share)
    configs |= {f"all-{profile}": profile_config(profile, shares) for profile, shares in by_profile.items()}
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
