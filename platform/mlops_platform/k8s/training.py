"""Distributed training: the KubeRay operator, so jobs that outgrow one machine run as RayJobs /
RayClusters on the GPU pools (workers tolerate the GPU taint; cluster-autoscaler adds the nodes).

Why KubeRay and not the Kubeflow training operator: one operator covers distributed training (Ray Train
wraps PyTorch DDP/FSDP, DeepSpeed, XGBoost), hyper-parameter tuning, batch inference and Ray Serve;
RayJob gives a job lifecycle (submit, wait, tear down, TTL) that fits CI; and its worker groups scale in
and out, which pairs with scale-from-zero GPU pools. The Kubeflow training operator covers PyTorchJob/
TFJob/MPIJob only and is being replaced by Kubeflow Trainer v2 (JobSet based), a moving target for a
pinned platform. See docs/kubernetes-layer.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.provider import k8s_opts

TRAINING_NAMESPACE = "kuberay"
#: The operator's ServiceAccount, set explicitly (kuberay-operator 1.4.2 values.yaml `serviceAccount.name`,
#: whose default is the same): admission policies recognise the operator's requests by it (queue_admission.py).
OPERATOR_SERVICE_ACCOUNT = "kuberay-operator"
#: The Kubernetes username of the operator's requests (`system:serviceaccount:<namespace>:<name>`).
OPERATOR_USERNAME = f"system:serviceaccount:{TRAINING_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
#: kuberay-operator 1.4.2 values.yaml sets `resources.limits.cpu: 100m` and Helm merges user values into
#: chart defaults, so without deleting it the operator is throttled to 0.1 CPU whatever requests say.
DELETED_DEFAULTS = ("resources.limits.cpu",)


@dataclass(frozen=True, kw_only=True)
class TrainingArgs:
    """Arguments of `Training`."""

    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""


def operator_values() -> dict[str, Any]:
    return {
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        # watch every namespace: each project runs its RayJobs in its own namespace
        "singleNamespaceInstall": False,
        "serviceAccount": {"create": True, "name": OPERATOR_SERVICE_ACCOUNT},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }


class Training(pulumi.ComponentResource):
    """The KubeRay operator (RayCluster, RayJob, RayService CRDs + controller)."""

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Training", name, None, opts)
        ns = namespace(f"{name}-ns", TRAINING_NAMESPACE, "restricted", args.k8s_version,
                       k8s_opts(self, args.provider), open_ports=(9443,))  # admission webhook
        self.release = helm_release(f"{name}-kuberay", "kuberay-operator", "kuberay-operator", TRAINING_NAMESPACE,
                                    operator_values(), k8s_opts(self, args.provider, [ns]),
                                    delete_defaults=DELETED_DEFAULTS)
        self.register_outputs({"namespace": TRAINING_NAMESPACE})
