"""The NVIDIA device plugin's per-pool configs (chart nvidia-device-plugin 0.17.1 `config.map`).

One named config per shared pool plus the `exclusive` default; a node picks its pool's config through the
`nvidia.com/device-plugin.config` label its node group (or Karpenter NodePool) sets
(`core.gpu_sharing.sharing_node_labels`), so a pool's sharing never reaches another pool's nodes. The
config file format is the plugin's `v1` config (k8s-device-plugin api/config/v1: `flags.migStrategy`,
`sharing.timeSlicing.renameByDefault/failRequestsGreaterThanOne/resources[].replicas`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mlops_platform.core.gpu_sharing import (
    EXCLUSIVE_CONFIG,
    WHOLE_GPU,
    GpuSharing,
    PoolSharing,
    device_plugin_config_name,
)


def config_file(share: PoolSharing | None) -> dict[str, Any]:
    """One device-plugin config file. MIG pools use the `mixed` strategy (one resource per profile, never
    `nvidia.com/gpu`); time-slicing renames its replicas `nvidia.com/gpu.shared` and refuses a request for
    more than one (two slices of one GPU are not two GPUs' worth)."""
    mig = "mixed" if share is not None and share.sharing is GpuSharing.MIG else "none"
    doc: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": mig, "failOnInitError": True}}
    if share is not None and share.sharing is GpuSharing.TIME_SLICING:
        doc["sharing"] = {"timeSlicing": {"renameByDefault": True, "failRequestsGreaterThanOne": True,
                                          "resources": [{"name": WHOLE_GPU, "replicas": share.replicas}]}}
    return doc


def config_values(pools: Iterable[PoolSharing]) -> dict[str, Any]:
    """The chart's `config` values: the `exclusive` default and one entry per shared pool. With no shared
    pool the chart keeps its single built-in config (no config-manager sidecar)."""
    shared = [p for p in pools if p.sharing is not GpuSharing.NONE]
    if not shared:
        return {}
    entries = {EXCLUSIVE_CONFIG: config_file(None)}
    entries |= {device_plugin_config_name(p.pool): config_file(p) for p in shared}
    return {"config": {"default": EXCLUSIVE_CONFIG,
                       # JSON is YAML: the plugin reads the file with sigs.k8s.io/yaml
                       "map": {name: json.dumps(doc, indent=2) for name, doc in entries.items()}}}
