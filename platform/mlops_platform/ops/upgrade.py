"""`mlplat upgrade ENV --to X.Y`: the ordered plan that moves an environment one Kubernetes minor up.

Pure functions over the validated config and the version matrix (versions.VERSION_MATRIX); nothing here
calls AWS. The order is the one EKS documents ("Update existing cluster to new Kubernetes version"): the
control plane first (one minor at a time), then the add-ons, then the node groups (a kubelet may never be
newer than the API server), then the in-cluster charts tied to the minor. One `mlplat up` after the config
change applies them in this order: the `aws` layer stack (each later resource depends on the earlier ones),
then the `cluster` layer stack.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from mlops_platform.config.schema import PlatformConfig
from mlops_platform.config.sections import GpuPoolConfig, SystemPoolConfig, UpgradePolicy
from mlops_platform.core.errors import UpgradeRefusedError, UsageError
from mlops_platform.core.versions import (
    EKS_RELEASES,
    VERSION_MATRIX,
    bottlerocket_release,
    bottlerocket_release_parameter,
    karpenter_ami_alias,
    minor_pins,
    node_release_version,
)

#: Kubernetes version-skew policy (kubernetes.io/releases/version-skew-policy): kubelet and kube-proxy may be
#: up to three minors older than kube-apiserver, never newer.
MAX_KUBELET_SKEW = 3
#: Add-ons the node groups need first (networking, identity), then those that run on nodes.
ADDON_ORDER = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver")
MINOR = re.compile(r"^1\.(\d{2})$")


class Stage(StrEnum):
    CONTROL_PLANE = "control-plane"
    ADDON = "add-on"
    NODE_GROUP = "node-group"
    CHART = "chart"
    #: A Karpenter GPU pool: its EC2NodeClass's AMI alias moves with the matrix row, and Karpenter replaces the
    #: pool's nodes as drifted, within the pool's disruption budget (https://karpenter.sh/docs/concepts/disruption/).
    NODE_POOL = "karpenter-nodepool"


@dataclass(frozen=True)
class UpgradeStep:
    stage: Stage
    name: str
    from_version: str
    to_version: str


@dataclass(frozen=True)
class UpgradePlan:
    env: str
    from_version: str
    to_version: str
    upgrade_policy: str
    steps: list[UpgradeStep] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "from": self.from_version, "to": self.to_version,
                "upgrade_policy": self.upgrade_policy, "checks": list(self.checks),
                "steps": [{**asdict(s), "stage": s.stage.value, "order": i}
                          for i, s in enumerate(self.steps, start=1)]}


def minor_number(version: str, what: str) -> int:
    match = MINOR.match(version)
    if not match:
        raise UsageError(f"{what} {version!r} is not a Kubernetes minor — fix: give it as 1.NN, e.g. 1.35")
    return int(match.group(1))


def check_target(current: str, target: str) -> None:
    """Refuse anything but the next supported minor, each with the reason and the fix."""
    cur, new = minor_number(current, "current version"), minor_number(target, "--to")
    if new < cur:
        raise UpgradeRefusedError(f"--to {target} is older than the cluster's {current}: EKS cannot downgrade a "
                                  f"control plane — fix: stay on {current} or upgrade to 1.{cur + 1}")
    if new > cur + 1:
        raise UpgradeRefusedError(f"--to {target} skips {new - cur - 1} minor(s): EKS upgrades the control plane "
                                  f"one minor at a time — fix: upgrade to 1.{cur + 1} first")
    if target not in VERSION_MATRIX:
        raise UpgradeRefusedError(f"--to {target} is not supported by this platform release (supported: "
                                  f"{', '.join(VERSION_MATRIX)}) — fix: upgrade mlops-platform first")


def skew_checks(current: str, target: str, today: date) -> list[str]:
    """What was checked, as sentences; the plan only exists when none of them failed."""
    skew = minor_number(target, "--to") - minor_number(current, "current version")
    checks = [f"kubelet {current} vs API server {target} between control-plane and node-group steps: skew "
              f"{skew} <= {MAX_KUBELET_SKEW} (Kubernetes version-skew policy)",
              f"kube-proxy moves to {target} with the add-ons, before any node runs a {target} kubelet"]
    release = EKS_RELEASES[target]
    if release.end_of_standard_support <= today:
        checks.append(f"warning: {target} left EKS standard support on {release.end_of_standard_support} "
                      "(extended-support pricing applies)")
    return checks


def support_warnings(current: str, policy: UpgradePolicy, today: date) -> list[str]:
    """What EKS may already have done to the running cluster (EKS User Guide, view-upgrade-policy)."""
    release = EKS_RELEASES[current]
    if policy is UpgradePolicy.STANDARD and release.end_of_standard_support <= today:
        return [f"warning: {current} left standard support on {release.end_of_standard_support} and the upgrade "
                "policy is STANDARD: EKS may already have upgraded the control plane — check the live version "
                "(aws eks describe-cluster --query cluster.version)"]
    if release.end_of_extended_support <= today:
        return [f"warning: {current} left extended support on {release.end_of_extended_support}: EKS upgrades "
                "the control plane on its own — check the live version"]
    return []


def _node_image(version: str, ami_type: str) -> str:
    """A Karpenter pool's image at a minor: its alias, and for Bottlerocket the variant, since one release's alias
    resolves per cluster minor (/aws/service/bottlerocket/aws-k8s-<minor>-nvidia/...: karpenter-provider-aws
    amifamily/bottlerocket.go), so the nodes drift even when the pinned release stays."""
    alias = karpenter_ami_alias(version, ami_type)
    return f"{alias} (aws-k8s-{version}-nvidia)" if alias.startswith("bottlerocket@") else alias


def _group_image(version: str, ami_type: str) -> str:
    """A managed node group's AMI at a minor: AL2023's release, or the pinned Bottlerocket release and the variant
    of that minor (one release serves every minor: versions.bottlerocket_release_parameter)."""
    if bottlerocket_release_parameter(version, ami_type) is not None:
        return f"bottlerocket v{bottlerocket_release(version)} (aws-k8s-{version}-nvidia)"
    return node_release_version(version, ami_type) or version


def plan_upgrade(cfg: PlatformConfig, target: str, today: date | None = None) -> UpgradePlan:
    """The ordered upgrade plan of one environment from its configured minor to `target`."""
    current = cfg.cluster.version
    check_target(current, target)
    plan = UpgradePlan(cfg.environment.name, current, target, cfg.upgrade_policy.value)
    if target == current:
        return plan
    old, new = minor_pins(current), minor_pins(target)
    plan.steps.append(UpgradeStep(Stage.CONTROL_PLANE, cfg.cluster_name, current, target))
    plan.steps.extend(UpgradeStep(Stage.ADDON, a, old.addons[a], new.addons[a]) for a in ADDON_ORDER
                      if old.addons[a] != new.addons[a])
    groups = [] if cfg.karpenter else list(cfg.node_pools.gpu)
    pools: list[SystemPoolConfig | GpuPoolConfig] = [cfg.node_pools.system, *groups]
    for pool in pools:
        plan.steps.append(UpgradeStep(Stage.NODE_GROUP, pool.name, _group_image(current, pool.ami_type),
                                      _group_image(target, pool.ami_type)))
    if cfg.node_pools.gpu:  # the autoscaler runs with GPU enablement only
        plan.steps.append(UpgradeStep(Stage.CHART, "cluster-autoscaler",
                                      f"{old.autoscaler_chart} (image {old.autoscaler_image})",
                                      f"{new.autoscaler_chart} (image {new.autoscaler_image})"))
    plan.steps.extend(UpgradeStep(Stage.NODE_POOL, p.name, _node_image(current, p.ami_type),
                                   _node_image(target, p.ami_type))
                      for p in (cfg.node_pools.gpu if cfg.karpenter else []))
    day = today or date.today()
    plan.checks.extend(skew_checks(current, target, day) + support_warnings(current, cfg.upgrade_policy, day))
    return plan
