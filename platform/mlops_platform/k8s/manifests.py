"""Pure builders of Kubernetes manifest fragments (camelCase dicts, exactly what the API takes).

Components assemble these; tests validate them without an engine. Every workload the platform creates
gets the same restricted security context, probes and GPU placement from here, so a fix lands everywhere.
"""

from __future__ import annotations

from typing import Any

from mlops_platform.core import contract

Manifest = dict[str, Any]
#: Non-root UID/GID platform workloads run as (images must not need root; restricted PSS forbids it).
DEFAULT_UID = 10001
PSS_LEVELS = ("privileged", "baseline", "restricted")
#: Label every platform-provisioned monitoring object carries.
PLATFORM_LABELS = {"app.kubernetes.io/part-of": "mlops-platform"}
#: Label of every project (tenant) namespace: the project's name. Admission policies bind to it.
PROJECT_LABEL = "mlops.io/project"
#: Grafana's dashboard sidecar loads ConfigMaps with this label (monitoring.grafana_values).
DASHBOARD_LABEL = {"grafana_dashboard": "1"}


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None,
         annotations: dict[str, Any] | None = None) -> Any:
    """ObjectMeta. Typed `Any` because pulumi-kubernetes declares TypedDicts; tests validate every manifest
    against the cluster version's API schema instead."""
    out: Manifest = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def namespace_labels(level: str, k8s_version: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Pod Security admission labels: enforce, audit and warn at one level, pinned to the cluster version
    (a pinned version means a cluster upgrade never silently tightens or loosens the rules)."""
    if level not in PSS_LEVELS:
        raise ValueError(f"pod security level {level!r}: use one of {', '.join(PSS_LEVELS)}")
    labels = dict(extra or {})
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = f"v{k8s_version}"
    return labels


def pod_security_context(uid: int = DEFAULT_UID) -> Manifest:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> Manifest:
    """Restricted: no privilege escalation, no capabilities, read-only root filesystem."""
    return {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def http_probe(path: str, port: str | int, *, initial_delay: int = 5, period: int = 10,
               failures: int = 3) -> Manifest:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": initial_delay,
            "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}


def resources(cpu: str, memory: str, *, cpu_limit: str | None = None, memory_limit: str | None = None,
              gpus: int = 0) -> Manifest:
    """Requests and limits; GPUs only as limits (Kubernetes sets the request equal, GPUs never overcommit)."""
    limits: dict[str, str] = {"memory": memory_limit or memory}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    if gpus:
        limits[contract.GPU_RESOURCE] = str(gpus)
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def gpu_toleration() -> Manifest:
    return {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}


def gpu_node_affinity() -> Manifest:
    """Any node of any GPU pool (the AWS layer labels every GPU node with its GPU type)."""
    term = {"matchExpressions": [{"key": contract.GPU_TYPE_LABEL, "operator": "Exists"}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def gpu_placement(gpu_type: str | None, pool: str | None) -> Manifest:
    """Pod-spec fields that put a GPU pod on a GPU pool: the taint toleration and, when asked, a selector."""
    out: Manifest = {"tolerations": [gpu_toleration()]}
    if pool:
        out["nodeSelector"] = {contract.POOL_LABEL: pool}
    elif gpu_type:
        out["nodeSelector"] = {contract.GPU_TYPE_LABEL: gpu_type}
    return out


def topology_spread(match_labels: dict[str, str]) -> list[Manifest]:
    """Spread replicas over zones and nodes; ScheduleAnyway so a small pool never blocks scheduling."""
    return [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": dict(match_labels)}}
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]


def tmp_volume() -> tuple[Manifest, Manifest]:
    """(volume, mount) of a memory-bounded scratch /tmp: the root filesystem is read-only."""
    return ({"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "tmp", "mountPath": "/tmp"})


def irsa_annotation(role_arn: Any) -> dict[str, Any]:
    return {"eks.amazonaws.com/role-arn": role_arn}
