"""Pod templates and containers of every workload kind the platform and projects create.

Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, Pods, KServe InferenceServices (whose predictor is a
pod spec plus a `model` container), Ray clusters/jobs/services (head and worker group templates) and Argo
Workflows/WorkflowTemplates/CronWorkflows (one pod per container or script step, with the workflow's pod-level
fields; a step that creates a RayJob contributes that RayJob's templates).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import UNKNOWN, as_list, dig

LONG_RUNNING = frozenset({t.K8S_DEPLOYMENT, t.K8S_STATEFULSET, t.K8S_DAEMONSET})
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    t.K8S_DEPLOYMENT: ("spec.template",), t.K8S_STATEFULSET: ("spec.template",),
    t.K8S_DAEMONSET: ("spec.template",), t.K8S_JOB: ("spec.template",),
    t.K8S_CRONJOB: ("spec.jobTemplate.spec.template",),
}
_KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
_RAY_CLUSTER_SPEC = {t.RAY_CLUSTER: "spec", t.RAY_JOB: "spec.rayClusterSpec", t.RAY_SERVICE: "spec.rayClusterConfig"}
_ARGO_SPEC = {t.ARGO_WORKFLOW: "spec", t.ARGO_WORKFLOW_TEMPLATE: "spec", t.ARGO_CRON_WORKFLOW: "spec.workflowSpec"}
#: Pod-spec fields an Argo workflow sets for all its steps, and a step may override.
_ARGO_POD_FIELDS = ("securityContext", "serviceAccountName", "volumes", "nodeSelector", "tolerations", "affinity",
                    "hostNetwork", "hostPID", "hostIPC", "automountServiceAccountToken")
WORKLOAD_TYPES = (*_TEMPLATE_PATHS, t.K8S_POD, t.KSERVE_INFERENCE_SERVICE, *_RAY_CLUSTER_SPEC, *_ARGO_SPEC)


@dataclass
class PodTemplate:
    """One pod template: where it sits, its pod spec, pod labels, and extra containers (KServe `model`)."""

    path: str
    spec: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict)
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _template(res: Res, path: str) -> PodTemplate | None:
    tpl = res.get(path)
    if tpl is UNKNOWN:
        return PodTemplate(path, UNKNOWN)  # type: ignore[arg-type,unused-ignore]
    if not isinstance(tpl, dict) or not isinstance(tpl.get("spec"), dict | type(UNKNOWN)):
        return None
    return PodTemplate(f"{path}.spec", tpl["spec"], dig(tpl, "metadata.labels") or {})


def _kserve(res: Res) -> Iterator[PodTemplate]:
    labels = res.get("metadata.labels") or {}
    for part in _KSERVE_COMPONENTS:
        spec = res.get(f"spec.{part}")
        if isinstance(spec, dict):
            model = spec.get("model")
            extra = [(f"spec.{part}.model", model)] if isinstance(model, dict) else []
            yield PodTemplate(f"spec.{part}", spec, labels, extra)


def _ray(res: Res) -> Iterator[PodTemplate]:
    base = _RAY_CLUSTER_SPEC[res.type]
    head = _template(res, f"{base}.headGroupSpec.template")
    if head is not None:
        yield head
    for i, _group in enumerate(as_list(res.get(f"{base}.workerGroupSpecs"))):
        worker = _template(res, f"{base}.workerGroupSpecs.{i}.template")
        if worker is not None:
            yield worker


def _ray_manifest(path: str, manifest: Any) -> Iterator[PodTemplate]:
    """Pod templates of a RayJob an Argo resource step creates (its manifest is JSON or YAML text)."""
    if not isinstance(manifest, str):
        if manifest is UNKNOWN:
            yield PodTemplate(path, UNKNOWN)  # type: ignore[arg-type,unused-ignore]
        return
    try:
        job = json.loads(manifest)
    except ValueError:
        return  # YAML manifests are not the platform's; their pods are judged by the cluster's admission
    if not isinstance(job, dict) or job.get("kind") != "RayJob":
        return
    cluster = dig(job, "spec.rayClusterSpec") or {}
    groups = [("headGroupSpec", dig(cluster, "headGroupSpec.template"))]
    groups += [(f"workerGroupSpecs[{i}]", g.get("template")) for i, g in enumerate(as_list(cluster.get(
        "workerGroupSpecs"))) if isinstance(g, dict)]
    for where, tpl in groups:
        if isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict):
            yield PodTemplate(f"{path}.{where}.template.spec", tpl["spec"], dig(tpl, "metadata.labels") or {})


def _argo(res: Res) -> Iterator[PodTemplate]:
    base = _ARGO_SPEC[res.type]
    workflow = res.get(base)
    if workflow is UNKNOWN:
        yield PodTemplate(base, UNKNOWN)  # type: ignore[arg-type,unused-ignore]
        return
    if not isinstance(workflow, dict):
        return
    shared = {k: workflow[k] for k in _ARGO_POD_FIELDS if k in workflow}
    labels = dig(workflow, "podMetadata.labels") or {}
    for i, step in enumerate(as_list(workflow.get("templates"))):
        if not isinstance(step, dict):
            continue
        own = {k: step[k] for k in _ARGO_POD_FIELDS if k in step}
        for key in ("container", "script"):
            if isinstance(step.get(key), dict):
                yield PodTemplate(f"{base}.templates[{i}]", {**shared, **own, "containers": [step[key]]},
                                  {**labels, **(dig(step, "metadata.labels") or {})})
        yield from _ray_manifest(f"{base}.templates[{i}].resource.manifest", dig(step, "resource.manifest"))


def pod_templates(res: Res) -> list[PodTemplate]:
    """Every pod template of a workload resource (an unknown template has spec UNKNOWN)."""
    if res.type in _TEMPLATE_PATHS:
        found = [_template(res, p) for p in _TEMPLATE_PATHS[res.type]]
        return [f for f in found if f is not None]
    if res.type == t.K8S_POD:
        spec = res.get("spec")
        return [PodTemplate("spec", spec, res.get("metadata.labels") or {})] if spec is not None else []
    if res.type == t.KSERVE_INFERENCE_SERVICE:
        return list(_kserve(res))
    if res.type in _RAY_CLUSTER_SPEC:
        return list(_ray(res))
    if res.type in _ARGO_SPEC:
        return list(_argo(res))
    return []


def containers(tpl: PodTemplate, init: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """(path, container) of a pod template: containers, init containers, and KServe's model."""
    keys = ("containers", "initContainers") if init else ("containers",)
    out = [(f"{tpl.path}.{key}[{i}]", c) for key in keys
           for i, c in enumerate(as_list(tpl.spec.get(key))) if isinstance(c, dict)]
    return out + tpl.extra


def label(path: str, container: dict[str, Any]) -> str:
    """`spec.template.spec.containers[0]` → `container "app" (spec.template.spec.containers[0])`."""
    name = container.get("name")
    return f"container {name!r} ({path})" if isinstance(name, str) else path


def security_value(tpl: PodTemplate, container: dict[str, Any], key: str) -> Any:
    """A security-context field: the container's value wins over the pod's."""
    own = dig(container, f"securityContext.{key}")
    return own if own is not None else dig(tpl.spec, f"securityContext.{key}")


def gpu_count(container: dict[str, Any], section: str) -> Any:
    """`resources.<section>["nvidia.com/gpu"]` (a number or a quantity string), None when absent."""
    block = dig(container, f"resources.{section}")
    if block is UNKNOWN:
        return UNKNOWN
    return block.get("nvidia.com/gpu") if isinstance(block, dict) else None
