"""Fixtures of the policies in `mlops_platform.policy.rules.gpu`."""

from __future__ import annotations

from mlops_platform.k8s.project_pipeline import TrainingBackend
from policy_plans import DROP, Patch, U

from policy_cases._base import C0, DEFERRED, DEPLOY, GPU, POD, STACK_LEVEL, SYSTEM, Case, deploy, fail, ok, u
from policy_cases._pipeline import TRAIN_STEP, WT, pipeline
from policy_cases.karpenter import LIMIT, karpenter_pool

CASES: dict[str, Case] = {
    "gpu-nodegroup-tainted": Case(
        passing=(ok(),), failing=(fail(GPU, Patch("gpu-l4", "taints", DROP)),
                                  fail(GPU, Patch("gpu-l4", "taints.0.effect", "PREFER_NO_SCHEDULE"))),
        unknown=u(DEFERRED, Patch("gpu-l4", "taints", U))),
    "gpu-ami-matches-instance": Case(
        passing=(ok(), ok(Patch("gpu-l4", "amiType", "BOTTLEROCKET_x86_64_NVIDIA"))),
        failing=(fail(GPU, Patch("gpu-l4", "amiType", "AL2023_x86_64_STANDARD")),
                 fail(SYSTEM, Patch("system", "amiType", "AL2023_x86_64_NVIDIA")),
                 fail(GPU, Patch("gpu-l4", "instanceTypes", ["g5g.xlarge"]))),  # Graviton GPU with an x86 AMI
        unknown=u(DEFERRED, Patch("gpu-l4", "amiType", U))),
    "gpu-total-cap": Case(
        passing=(ok(), ok(Patch("gpu-l4", "scalingConfig.maxSize", 8)),
                 ok(*karpenter_pool()),  # 4 node-group GPUs + a NodePool limited to 4 = the cap of 8
                 ok(*karpenter_pool(), Patch("karpenter-l4-nodepool", ("spec", "limits"), DROP))),
        failing=(fail(STACK_LEVEL, Patch("gpu-l4", "scalingConfig.maxSize", 9)),
                 fail(STACK_LEVEL, Patch("gpu-l4", "instanceTypes", ["g6.12xlarge"])),  # 4 x 4 GPUs = 16 > 8
                 fail(GPU, Patch("gpu-l4", "instanceTypes", ["g9.xlarge"])),  # not in the catalog
                 # a Karpenter NodePool counts its GPU limit: 4 + 5 > 8
                 fail(STACK_LEVEL, *karpenter_pool(), Patch("karpenter-l4-nodepool", LIMIT, "5"))),
        unknown=u(DEFERRED, Patch("gpu-l4", "scalingConfig.maxSize", U))),
    "gpu-workload-limits": Case(
        passing=(ok(),),
        failing=(fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi"})),
                 fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi", "nvidia.com/gpu": 2}))),
        unknown=u(DEFERRED, deploy(f"{C0}.resources.limits", U))),
    "gpu-workload-tolerates-taint": Case(
        passing=(ok(), ok(deploy(f"{POD}.tolerations", [{"operator": "Exists"}])), ok(pipeline()),
                 ok(pipeline(backend=TrainingBackend.RAY))),
        failing=(fail(DEPLOY, deploy(f"{POD}.tolerations", DROP)),
                 # the pipeline's GPU training step without the toleration
                 fail(WT, pipeline(), Patch("fraud-pipeline", f"spec.templates.{TRAIN_STEP}.tolerations", DROP)),
                 fail(DEPLOY, deploy(f"{POD}.tolerations", [{"key": "nvidia.com/gpu", "value": "false",
                                                             "effect": "NoSchedule"}])),
                 # a time-sliced slice lands on the same tainted pool
                 fail(DEPLOY, deploy(f"{C0}.resources", {"limits": {"memory": "1Gi", "nvidia.com/gpu.shared": 1}}),
                      deploy(f"{POD}.tolerations", DROP))),
        unknown=u(DEFERRED, deploy(f"{POD}.tolerations", U))),
}
