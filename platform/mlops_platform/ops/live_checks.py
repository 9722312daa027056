"""Preflight checks of an existing cluster against its stack: what AWS changed, or would refuse, since the last
`up`. Each passes when the cluster does not exist yet (the aws layer creates it as configured).

- control-plane version: with upgrade_policy STANDARD, EKS upgrades the control plane itself when standard
  support ends; the stack still pinning the old minor would make the next `up` request a downgrade, which EKS
  refuses. https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
- node pool sizes: the platform ignores drift of a node group's desired size (the autoscaler owns it), so `up`
  sends the live desired size with the new min/max; EKS UpdateNodegroupConfig rejects min_size above it
  ("Minimum capacity X can't be greater than desired size Y") and max_size below it. A raised min is a
  warning (`mlplat up` raises the desired size first, ops/desired_sizes.py); a lowered max is a failure.
  https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html
- pinned add-on versions: every `addon_version` of the version matrix row must be one EKS offers for the minor
  (CreateAddon/UpdateAddon fail otherwise). https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlops_platform.core import contract
from mlops_platform.core.versions import minor_pins
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code
from mlops_platform.ops.checks import CheckResult, Status

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig
    from mlops_platform.config.sections import PoolConfig


def live_cluster(cfg: PlatformConfig, aws: Aws) -> Mapping[str, Any] | None:
    try:
        return aws.eks.describe_cluster(name=cfg.cluster_name)["cluster"]
    except AwsFailure as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        return None


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def check_live_version(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """The live control-plane minor must not be newer than cluster.version (EKS never downgrades)."""
    name, wanted = "cluster version", cfg.cluster.version
    live = live_cluster(cfg, aws)
    if live is None:
        yield CheckResult(name, Status.PASS, f"cluster {cfg.cluster_name} does not exist yet")
        return
    running = str(live.get("version") or "")
    if running and _minor(running) > _minor(wanted):
        yield CheckResult(name, Status.FAIL,
                          f"cluster {cfg.cluster_name} runs {running} (EKS upgraded it, upgrade policy "
                          f"{cfg.upgrade_policy.value}), the stack pins {wanted}: `up` would request a downgrade",
                          f"set cluster.version to {running} in the stack file (then `mlplat upgrade "
                          f"{cfg.environment.name} --to {running}` lists the add-on, node and chart steps)")
    else:
        yield CheckResult(name, Status.PASS, f"cluster {cfg.cluster_name} runs {running}, the stack pins {wanted}")


def pools_by_name(cfg: PlatformConfig) -> dict[str, PoolConfig]:
    return {p.name: p for p in [cfg.node_pools.system, *cfg.node_pools.gpu]}


def live_groups(cfg: PlatformConfig, aws: Aws) -> Iterator[Mapping[str, Any]]:
    names = aws.eks.list_nodegroups(clusterName=cfg.cluster_name).get("nodegroups", [])
    for group in names:
        yield aws.eks.describe_nodegroup(clusterName=cfg.cluster_name, nodegroupName=group)["nodegroup"]


def size_results(cfg: PlatformConfig, groups: list[Mapping[str, Any]]) -> Iterator[CheckResult]:
    """Pure: each configured pool's min/max against its live group's desired size (matched by pool label)."""
    pools = pools_by_name(cfg)
    for group in groups:
        pool = pools.get((group.get("labels") or {}).get(contract.POOL_LABEL, ""))
        if pool is None:
            continue
        desired = int((group.get("scalingConfig") or {}).get("desiredSize", 0))
        name, group_name = f"node pool {pool.name}", group.get("nodegroupName", "")
        if cfg.karpenter and pool is not cfg.node_pools.system:
            yield CheckResult(name, Status.WARN, f"{group_name} ({desired} node(s)) is a GPU node group, and with "
                              "gpu.provisioner: karpenter `up` deletes it: its pods are evicted and wait for the "
                              "pool's NodePool", "drain or stop the pool's jobs first, or keep gpu.provisioner: "
                              "managed_node_groups until they finish")
            continue
        if pool.min_size <= desired <= pool.max_size:
            yield CheckResult(name, Status.PASS, f"{group_name}: {desired} node(s) within {pool.min_size}.."
                                                 f"{pool.max_size}")
            continue
        target = min(max(desired, pool.min_size), pool.max_size)
        manual = (f"`aws eks update-nodegroup-config --cluster-name {cfg.cluster_name} --nodegroup-name {group_name} "
                  f"--scaling-config minSize={min(pool.min_size, desired)},maxSize={max(pool.max_size, desired)},"
                  f"desiredSize={target}`")
        if desired <= pool.max_size:  # min raised above it: `mlplat up` raises the desired size first
            yield CheckResult(name, Status.WARN,
                              f"{group_name} runs {desired} node(s), below the new min_size {pool.min_size}: "
                              f"`mlplat up` raises its desired size to {target} before the aws layer "
                              "(ops/desired_sizes.py)",
                              f"nothing with `mlplat up`; with plain `pulumi up` first run {manual}")
            continue
        yield CheckResult(
            name, Status.FAIL,
            f"{group_name} runs {desired} node(s) (desired size, owned by the autoscaler), outside the new "
            f"{pool.min_size}..{pool.max_size}: EKS rejects a max below the desired size, and lowering it "
            "drains nodes, so `mlplat up` leaves that to you",
            f"first move the desired size: {manual}, then rerun")


def check_pool_sizes(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    if live_cluster(cfg, aws) is None:
        yield CheckResult("node pool sizes", Status.PASS, f"cluster {cfg.cluster_name} does not exist yet")
        return
    yield from size_results(cfg, list(live_groups(cfg, aws)))


def _offered(aws: Aws, addon: str, version: str) -> set[str]:
    paginator = aws.eks_catalog.get_paginator("describe_addon_versions")
    pages = paginator.paginate(addonName=addon, kubernetesVersion=version)
    return {v["addonVersion"] for page in pages for a in page.get("addons", [])
            for v in a.get("addonVersions", [])}


def check_addon_versions(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Every pinned add-on version of the stack's minor is one EKS offers for it."""
    version = cfg.cluster.version
    pins = sorted(minor_pins(version).addons.items())
    try:
        catalogue = {addon: _offered(aws, addon, version) for addon, _ in pins}
    except AwsFailure as exc:  # no permission, or an endpoint without the catalogue: say what stays unchecked
        yield CheckResult("addon versions", Status.WARN,
                          f"could not list EKS add-on versions ({describe(exc)}): the pinned versions are unchecked",
                          "allow eks:DescribeAddonVersions, or check each pin with `aws eks describe-addon-versions "
                          f"--kubernetes-version {version} --addon-name NAME` before `up`")
        return
    for addon, pinned in pins:
        offered = catalogue[addon]
        name = f"addon {addon}"
        if pinned in offered:
            yield CheckResult(name, Status.PASS, f"{pinned} is offered for Kubernetes {version}")
        else:
            newest = ", ".join(sorted(offered, reverse=True)[:3]) or "none"
            yield CheckResult(name, Status.FAIL, f"{pinned} (core/versions.py VERSION_MATRIX[{version!r}]) is not "
                                                 f"offered for Kubernetes {version} in {cfg.environment.region} "
                                                 f"(offered: {newest})",
                              f"pin one of the offered versions in VERSION_MATRIX[{version!r}].addons[{addon!r}] "
                              f"(`aws eks describe-addon-versions --kubernetes-version {version} --addon-name "
                              f"{addon}`)")
