"""One fixture set per policy: plans it passes, plans it fails (and on which resource), and what it does
with a value unknown at preview. Every plan is the secure reference stack with a few changes.

One module per rules module of the pack (`mlops_platform.policy.rules.<area>` → `policy_cases.<area>`);
`CASES` merges them, and a test checks every policy has its case.
"""

from __future__ import annotations

from policy_cases import (
    budgets,
    cost,
    delivery_webhooks,
    ecr,
    eks,
    gateway,
    github_oidc,
    gpu,
    gpu_fit,
    iam,
    irsa,
    k8s,
    k8s_stack,
    karpenter,
    kms,
    logs,
    nodes,
    pipelines,
    rds,
    s3,
    tags,
    trust,
)
from policy_cases._base import DEFERRED, PASSES, VIOLATES, Case, Failing

MODULES = (budgets, cost, delivery_webhooks, ecr, eks, gateway, github_oidc, gpu, gpu_fit, iam, irsa, k8s, k8s_stack,
           karpenter, kms, logs, nodes, pipelines, rds, s3, tags, trust)
CASES: dict[str, Case] = {name: case for module in MODULES for name, case in module.CASES.items()}

__all__ = ["CASES", "DEFERRED", "PASSES", "VIOLATES", "Case", "Failing"]
