"""`mlplat upgrade ENV --to X.Y`: the ordered plan that moves an environment one Kubernetes minor up.

Pure functions over the validated config and the version matrix (versions.VERSION_MATRIX); nothing here
calls AWS. The order is the one EKS documents ("Update existing cluster to new Kubernetes version"): the
control plane first (one minor at a time), then the add-ons, then the node groups (a kubelet may never be
newer than the API server), then the in-cluster charts tied to the minor. One `mlplat up` after the config
change applies them in this order: the `aws` layer stack (each later resource depends on the earlier ones),
then the `cluster` layer stack.

Except for Bottlerocket managed node groups. Their `release_version` is the same `<release>-<build>` string for
every minor (one Bottlerocket release serves them all), so on a minor bump only `version` changes, and the bridged
provider then sends UpdateNodegroupVersion without `releaseVersion` (hashicorp/terraform-provider-aws#40902):
EKS moves the group to the newest release of the new minor, and the next `up` rolls it back to the pin, a second
node roll (or a downgrade). So for them the plan names two commands to run before `up`: the control plane (a
group cannot be newer than it), then each group's minor and pinned release in one UpdateNodegroupVersion. `up`
refreshes the aws layer first (workflows/automation.refreshes_first), finds both at the target, and sends
nothing for them; it then updates the add-ons and the other groups.
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
    bottlerocket_variant,
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
    #: The command to run before `mlplat up` ("": `up` applies the step).
    command: str = ""


@dataclass(frozen=True)
class UpgradePlan:
    env: str
    from_version: str
    to_version: str
    upgrade_policy: str
    steps: list[UpgradeStep] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def manual(self) -> list[UpgradeStep]:
        """The steps to run, in order, before `mlplat up`."""
        return [s for s in self.steps if s.command]

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


def skew_checks(current: str, target: str, today: date, *, bottlerocket_first: bool = False) -> list[str]:
    """What was checked, as sentences; the plan only exists when none of them failed. `bottlerocket_first`:
    Bottlerocket groups move before the add-ons (module docstring)."""
    skew = minor_number(target, "--to") - minor_number(current, "current version")
    checks = [f"kubelet {current} vs API server {target} between control-plane and node-group steps: skew "
              f"{skew} <= {MAX_KUBELET_SKEW} (Kubernetes version-skew policy)",
              f"kube-proxy {current} beside the Bottlerocket groups' {target} kubelet until `up` moves the add-ons: "
              f"within the {MAX_KUBELET_SKEW} minors kube-proxy may differ from its kubelet (Kubernetes "
              "version-skew policy)" if bottlerocket_first else
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
        return f"bottlerocket v{bottlerocket_release(version)} ({bottlerocket_variant(version, ami_type)})"
    return node_release_version(version, ami_type) or version


def managed_groups(cfg: PlatformConfig) -> list[SystemPoolConfig | GpuPoolConfig]:
    """The pools that are EKS managed node groups (with Karpenter, the GPU pools are NodePools)."""
    pools: list[SystemPoolConfig | GpuPoolConfig] = [cfg.node_pools.system]
    return pools if cfg.karpenter else [*pools, *cfg.node_pools.gpu]


def control_plane_command(cfg: PlatformConfig, target: str) -> str:
    where = f"--region {cfg.environment.region}"
    return (f"aws eks update-cluster-version {where} --name {cfg.cluster_name} --kubernetes-version {target} && "
            f"aws eks wait cluster-active {where} --name {cfg.cluster_name}")


def nodegroup_command(cfg: PlatformConfig, pool: SystemPoolConfig | GpuPoolConfig, target: str) -> str:
    """The group's minor and its pinned release in one UpdateNodegroupVersion. The group is named `<pool>-` and
    the provider's unique suffix, a UTC timestamp (terraform-plugin-sdk helper/id.PrefixedUniqueId), hence
    `<pool>-20`: a pool named `<pool>-<letters>` never matches. The release is the pinned parameter's value."""
    where, cluster = f"--region {cfg.environment.region}", cfg.cluster_name
    group = (f"$(aws eks list-nodegroups {where} --cluster-name {cluster} --query "
             f"\"nodegroups[?starts_with(@, '{pool.name}-20')] | [0]\" --output text)")
    release = (f"$(aws ssm get-parameter {where} --name {bottlerocket_release_parameter(target, pool.ami_type)} "
               "--query Parameter.Value --output text)")
    return (f"aws eks update-nodegroup-version {where} --cluster-name {cluster} --nodegroup-name \"{group}\" "
            f"--kubernetes-version {target} --release-version \"{release}\"")


def _group_steps(cfg: PlatformConfig, current: str, target: str) -> list[UpgradeStep]:
    """Bottlerocket groups first (before `up`, with their command), then the others (`up`)."""
    steps = [UpgradeStep(Stage.NODE_GROUP, p.name, _group_image(current, p.ami_type), _group_image(target, p.ami_type),
                         nodegroup_command(cfg, p, target) if bottlerocket_release_parameter(target, p.ami_type)
                         else "") for p in managed_groups(cfg)]
    return sorted(steps, key=lambda step: not step.command)


def plan_upgrade(cfg: PlatformConfig, target: str, today: date | None = None) -> UpgradePlan:
    """The ordered upgrade plan of one environment from its configured minor to `target`."""
    current = cfg.cluster.version
    check_target(current, target)
    plan = UpgradePlan(cfg.environment.name, current, target, cfg.upgrade_policy.value)
    if target == current:
        return plan
    old, new = minor_pins(current), minor_pins(target)
    groups = _group_steps(cfg, current, target)
    first = [s for s in groups if s.command]  # Bottlerocket groups: the control plane, then they, before `up`
    plan.steps.append(UpgradeStep(Stage.CONTROL_PLANE, cfg.cluster_name, current, target,
                                  control_plane_command(cfg, target) if first else ""))
    plan.steps.extend(first)
    plan.steps.extend(UpgradeStep(Stage.ADDON, a, old.addons[a], new.addons[a]) for a in ADDON_ORDER
                      if old.addons[a] != new.addons[a])
    plan.steps.extend(s for s in groups if not s.command)
    if cfg.node_pools.gpu:  # the autoscaler runs with GPU enablement only
        plan.steps.append(UpgradeStep(Stage.CHART, "cluster-autoscaler",
                                      f"{old.autoscaler_chart} (image {old.autoscaler_image})",
                                      f"{new.autoscaler_chart} (image {new.autoscaler_image})"))
    plan.steps.extend(UpgradeStep(Stage.NODE_POOL, p.name, _node_image(current, p.ami_type),
                                   _node_image(target, p.ami_type))
                      for p in (cfg.node_pools.gpu if cfg.karpenter else []))
    day = today or date.today()
    plan.checks.extend(skew_checks(current, target, day, bottlerocket_first=bool(first))
                       + support_warnings(current, cfg.upgrade_policy, day))
    return plan
