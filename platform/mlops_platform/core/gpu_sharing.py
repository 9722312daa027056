"""GPU sharing facts and the honest arithmetic of shared GPUs.

A pool shares its GPUs one of three ways (`GpuSharing`). What a node then advertises to Kubernetes is
decided by the NVIDIA device plugin's config (k8s/device_plugin.py renders it):

- `none`: every physical GPU is one `nvidia.com/gpu`.
- `time-slicing`: every GPU is advertised `replicas` times, under its own resource name
  `nvidia.com/gpu.shared` (device plugin `renameByDefault: true`), so a slice never counts against, or is
  mistaken for, a whole-GPU quota. Slices share the GPU's memory and compute; nothing isolates them.
- `mig`: the GPU is partitioned into MIG instances of one profile, advertised per profile
  (`nvidia.com/mig-<profile>`, the device plugin's `mixed` strategy; `single` would advertise them as
  `nvidia.com/gpu` and make whole-GPU quotas count slices).

Quotas are set per resource name; `physical_gpu_bound` turns them back into the most physical GPUs a
project can hold, which is what caps, budgets and cost estimates must use (never the advertised count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from mlops_platform.core.instances import GpuType

WHOLE_GPU = "nvidia.com/gpu"
#: Resource a time-sliced pool advertises (NVIDIA k8s-device-plugin README, "Shared Access to GPUs":
#: with `renameByDefault: true` each shared resource is renamed `<resource>.shared`).
TIME_SLICED_GPU = "nvidia.com/gpu.shared"
#: Time-slicing replicas per GPU. The device plugin sets no upper limit; slices share one GPU's memory,
#: so more than 16 processes per GPU is a configuration mistake rather than a use.
MIN_REPLICAS, MAX_REPLICAS = 2, 16


class GpuSharing(StrEnum):
    """How a pool's GPUs are shared between pods."""

    NONE = "none"
    TIME_SLICING = "time-slicing"
    MIG = "mig"


@dataclass(frozen=True, kw_only=True)
class PoolSharing:
    """How one GPU pool shares its GPUs (from its validated config)."""

    pool: str
    """Pool name. Required."""
    sharing: GpuSharing
    """none, time-slicing or mig. Required."""
    replicas: int | None = None
    """Slices per GPU (time-slicing). Default: none."""
    mig_profile: str | None = None
    """MIG profile (mig). Default: none."""
    gpu_type: GpuType | None = None
    """GPU model of the pool (how many instances of the MIG profile fit one GPU). Default: unknown."""


@dataclass(frozen=True)
class MigProfile:
    """One MIG profile: `<compute slices>g.<memory>gb`; `per_gpu` instances fit on one GPU."""

    name: str
    compute_slices: int
    per_gpu: int

    @property
    def gpu_fraction(self) -> Fraction:
        """Share of one GPU's compute an instance holds (a GPU has 7 compute slices)."""
        return Fraction(self.compute_slices, 7)


def _profiles(*rows: tuple[str, int, int]) -> dict[str, MigProfile]:
    return {name: MigProfile(name, g, n) for name, g, n in rows}


#: MIG profiles per GPU model when every GPU is partitioned into one profile (NVIDIA Multi-Instance GPU
#: User Guide, "Supported MIG Profiles": the A100-SXM4-40GB (p4d), A100-SXM4-80GB (p4de), H100-SXM5-80GB (p5)
#: and H200-141GB (p5en) tables; the 80 GB A100 cuts like the H100). Only A100/H100/H200-class GPUs support
#: MIG; T4, A10G, L4 and L40S do not.
_EIGHTY_GB = (("1g.10gb", 1, 7), ("1g.20gb", 1, 4), ("2g.20gb", 2, 3), ("3g.40gb", 3, 2), ("4g.40gb", 4, 1),
              ("7g.80gb", 7, 1))
MIG_PROFILES: dict[GpuType, dict[str, MigProfile]] = {
    GpuType.A100: _profiles(("1g.5gb", 1, 7), ("1g.10gb", 1, 4), ("2g.10gb", 2, 3), ("3g.20gb", 3, 2),
                            ("4g.20gb", 4, 1), ("7g.40gb", 7, 1)),
    GpuType.A100_80GB: _profiles(*_EIGHTY_GB),
    GpuType.H100: _profiles(*_EIGHTY_GB),
    GpuType.H200: _profiles(("1g.18gb", 1, 7), ("1g.35gb", 1, 4), ("2g.35gb", 2, 3), ("3g.71gb", 3, 2),
                            ("4g.71gb", 4, 1), ("7g.141gb", 7, 1)),
}


def mig_resource(profile: str) -> str:
    """The extended resource of one MIG profile under the `mixed` strategy."""
    return f"nvidia.com/mig-{profile}"


@dataclass(frozen=True)
class SharedResource:
    """What one shared pool advertises: `resource` units, `per_gpu` of them per physical GPU, each worth at
    most `gpu_fraction` of a GPU."""

    resource: str
    per_gpu: int
    gpu_fraction: Fraction


def shared_resource(sharing: GpuSharing, gpu_type: GpuType | None, *, replicas: int | None = None,
                    mig_profile: str | None = None) -> SharedResource | None:
    """The resource a pool advertises instead of whole GPUs (None for `none`). Inputs are validated
    by config rules before this runs; an impossible combination here is a programming error."""
    if sharing is GpuSharing.NONE:
        return None
    if sharing is GpuSharing.TIME_SLICING:
        if replicas is None:
            raise ValueError("time-slicing needs replicas")
        return SharedResource(TIME_SLICED_GPU, replicas, Fraction(1, replicas))
    profile = MIG_PROFILES.get(gpu_type, {}).get(mig_profile or "") if gpu_type else None
    if profile is None:
        raise ValueError(f"no MIG profile {mig_profile!r} on {gpu_type}")
    return SharedResource(mig_resource(profile.name), profile.per_gpu, profile.gpu_fraction)


def merge_shared(resources: Iterable[SharedResource]) -> dict[str, SharedResource]:
    """One entry per resource name; pools advertising the same name at different replicas keep the
    largest fraction (the honest upper bound of what one unit can be worth)."""
    out: dict[str, SharedResource] = {}
    for res in resources:
        seen = out.get(res.resource)
        if seen is None or res.gpu_fraction > seen.gpu_fraction:
            out[res.resource] = res
    return out


def physical_gpu_bound(whole_gpus: int, slices: int, shared: Mapping[str, SharedResource]) -> Fraction:
    """Most physical GPUs a namespace can hold with `whole_gpus` of `nvidia.com/gpu` and `slices` of each
    shared resource: a slice counts as the largest share of a GPU it can be, never as a whole GPU and never
    as nothing. Caps, budgets and cost estimates use this, not the advertised counts."""
    return quota_gpu_bound(whole_gpus, dict.fromkeys(shared, slices), shared)


def quota_gpu_bound(whole_gpus: int, slices: Mapping[str, int], shared: Mapping[str, SharedResource]) -> Fraction:
    """`physical_gpu_bound` with a count per shared resource (a ResourceQuota's `requests.<resource>`);
    a resource `shared` does not describe counts as nothing (no node advertises it)."""
    return whole_gpus + sum((n * shared[r].gpu_fraction for r, n in slices.items() if r in shared), Fraction(0))


def advertised_per_node(gpus: int, shared: SharedResource | None) -> dict[str, int]:
    """Extended resources one node of a pool advertises (the autoscaler's node template needs them)."""
    if not gpus:
        return {}
    if shared is None:
        return {WHOLE_GPU: gpus}
    return {shared.resource: gpus * shared.per_gpu}


#: Node label the device plugin's config-manager reads to pick a named config from the chart's
#: `config.map` (NVIDIA k8s-device-plugin README, "Multiple Config File Example": label
#: `nvidia.com/device-plugin.config=<name>`; nodes without it use `config.default`).
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
#: The config of every node whose pool does not share its GPUs (the chart's `config.default`).
EXCLUSIVE_CONFIG = "exclusive"
#: Node label NVIDIA's mig-manager reads to partition a node's GPUs: the name of a config of its mig-parted
#: ConfigMap, `all-<profile>` as in NVIDIA's default config (k8s/mig_manager.py writes the ones the pools use).
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
#: PCI device id (mig-parted `device-filter`) of each MIG-capable GPU of the catalog: A100-SXM4-40GB (p4d),
#: A100-SXM4-80GB (p4de), H100-SXM5-80GB (p5), H200-141GB (p5en), as gpu-operator v26.3.3's default mig-parted
#: config filters on them (assets/state-mig-manager/0400_configmap.yaml; tests/fixtures/upstream/
#: mig-parted-default-config.json: `all-1g.35gb` filters "H200-141GB" alone on 0x233510DE; 0x20B2 is the
#: A100 SXM4 80GB in the PCI ID database, 10de:20b2, one of the "A100-80GB" filters of `all-1g.10gb`).
MIG_DEVICE_IDS: dict[GpuType, str] = {GpuType.A100: "0x20B010DE", GpuType.A100_80GB: "0x20B210DE",
                                      GpuType.H100: "0x233010DE", GpuType.H200: "0x233510DE"}
#: Node label that schedules the GPU Operator's mig-manager DaemonSet (gpu-operator v26.3.3
#: assets/state-mig-manager/0600_daemonset.yaml nodeSelector). The operator sets it only from GPU feature
#: discovery's `nvidia.com/mig.capable`/`gpu.product` labels (controllers/state_manager.go hasMIGCapableGPU),
#: which the platform does not run, so MIG pools set it themselves.
MIG_MANAGER_DEPLOY_LABEL = "nvidia.com/gpu.deploy.mig-manager"
#: Labels mig-manager sets to `paused-for-mig-change` while it repartitions a node, so the GPU clients'
#: DaemonSets leave the node and come back to advertise the new MIG devices (mig-parted v0.14.2
#: deployments/container/reconfigure-mig.sh, "Shutting down all GPU clients in Kubernetes").
#: Node label that schedules the operator's validator DaemonSet (assets/state-operator-validation/
#: 0500_daemonset.yaml nodeSelector), which writes the toolkit-ready file mig-manager's init container waits for.
OPERATOR_VALIDATOR_DEPLOY_LABEL = "nvidia.com/gpu.deploy.operator-validator"
#: What NFD would label a MIG node with, set by the pool instead since the platform runs no NFD (gpu-operator
#: v26.3.3 controllers/state_manager.go; tests/fixtures/upstream/gpu-operator-v26.3.3-node-labels.json):
#: - `labelGPUNodes` counts a node as a GPU node only with an NFD PCI label (`gpuNodeLabels`); a node with
#:   `nvidia.com/gpu.present=true` and none of them is "no longer has GPUs": the operator sets it to false and
#:   strips every deploy label, mig-manager's and the validator's included;
#: - with no GPU node counted it creates no DaemonSet at all ("No GPU node in the cluster, do not create
#:   DaemonSets", object_controls.go);
#: - `getGPUNodeOSInfo` fails the reconcile unless the first GPU node has NFD's os_release labels. MIG pools
#:   run the AL2023 NVIDIA AMI only (config rules), whose /etc/os-release says ID=amzn, VERSION_ID=2023.
NFD_STAND_IN_LABELS = {"feature.node.kubernetes.io/pci-10de.present": "true",
                       "feature.node.kubernetes.io/system-os_release.ID": "amzn",
                       "feature.node.kubernetes.io/system-os_release.VERSION_ID": "2023"}
DEVICE_PLUGIN_DEPLOY_LABEL = "nvidia.com/gpu.deploy.device-plugin"
DCGM_EXPORTER_DEPLOY_LABEL = "nvidia.com/gpu.deploy.dcgm-exporter"
MIG_PAUSED = "paused-for-mig-change"


def device_plugin_config_name(pool: str) -> str:
    """Name of a shared pool's entry in the device plugin's config map."""
    return f"pool-{pool}"


def sharing_node_labels(pool: str, sharing: GpuSharing, mig_profile: str | None = None) -> dict[str, str]:
    """Labels a shared pool's nodes carry so the device plugin (and mig-manager) apply that pool's config
    only there. Managed node groups and Karpenter NodePools set the same labels."""
    if sharing is GpuSharing.NONE:
        return {}
    labels = {DEVICE_PLUGIN_CONFIG_LABEL: device_plugin_config_name(pool)}
    if sharing is GpuSharing.MIG:
        labels |= {MIG_CONFIG_LABEL: f"all-{mig_profile}", MIG_MANAGER_DEPLOY_LABEL: "true",
                   OPERATOR_VALIDATOR_DEPLOY_LABEL: "true", **NFD_STAND_IN_LABELS}
    return labels
