"""Preflight: the node groups' pinned AMI release (core/versions.py VERSION_MATRIX `node_release`) is published for
the cluster minor in this region.

EKS accepts a node group `releaseVersion` only when that EKS-optimized AMI release exists for the group's
Kubernetes version and AMI type (CreateNodegroup/UpdateNodegroupVersion fail otherwise). AWS publishes the
newest release per minor and AMI type as the public SSM parameter
`/aws/service/eks/optimized-ami/<minor>/<ami-path>/recommended/release_version`
(https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html). From it:
- no parameter: that minor / AMI type is not published in the region — fail;
- the pinned release is newer than the newest published one (a release rolls out region by region) — fail;
- same release date but another kubelet patch: the pinned release does not exist — fail;
- an older pinned release still launches (only the newest is named here, so it is reported, not proven).

Bottlerocket node groups pin a release whose own parameter
`/aws/service/bottlerocket/aws-k8s-<minor>-nvidia/<arch>/<release>/image_version` the aws layer reads
(versions.bottlerocket_release_parameter): it must be published in the region, or the plan fails there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops_platform.core.versions import bottlerocket_release_parameter, node_release_version
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code
from mlops_platform.ops.checks import CheckResult, Status

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: EKS AMI type → the path segment of its public SSM parameters (retrieve-ami-id.html lists them).
AMI_PATHS = {
    "AL2023_x86_64_STANDARD": "amazon-linux-2023/x86_64/standard",
    "AL2023_ARM_64_STANDARD": "amazon-linux-2023/arm64/standard",
    "AL2023_x86_64_NVIDIA": "amazon-linux-2023/x86_64/nvidia",
    "AL2023_ARM_64_NVIDIA": "amazon-linux-2023/arm64/nvidia",
    "AL2023_x86_64_NEURON": "amazon-linux-2023/x86_64/neuron",
}


def parameter_name(version: str, ami_type: str) -> str:
    return f"/aws/service/eks/optimized-ami/{version}/{AMI_PATHS[ami_type]}/recommended/release_version"


def _parts(release: str) -> tuple[str, str]:
    """`1.34.9-20260714` → (kubelet `1.34.9`, date `20260714`)."""
    kubelet, _, day = release.partition("-")
    return kubelet, day


def release_result(name: str, pinned: str, published: str | None, where: str) -> CheckResult:
    """Pure: the pinned release against the newest published one (None: no parameter)."""
    fix = "pin a published release in core/versions.py VERSION_MATRIX (node_release), or pick another region"
    if published is None:
        return CheckResult(name, Status.FAIL, f"no EKS-optimized AMI is published for {where}", fix)
    (kubelet, day), (new_kubelet, new_day) = _parts(pinned), _parts(published)
    if pinned == published:
        return CheckResult(name, Status.PASS, f"{pinned} is the newest release for {where}")
    if day > new_day:
        return CheckResult(name, Status.FAIL, f"pinned release {pinned} is newer than the newest published for "
                                              f"{where} ({published}): not rolled out to this region yet", fix)
    if day == new_day:
        return CheckResult(name, Status.FAIL, f"pinned release {pinned} does not exist for {where}: release "
                                              f"{day} ships kubelet {new_kubelet}, not {kubelet}",
                           f"pin {published} in core/versions.py VERSION_MATRIX (node_release)")
    return CheckResult(name, Status.PASS, f"{pinned} is an older release for {where} (newest: {published}; "
                                          "bump VERSION_MATRIX node_release to move the nodes)")


def _published(aws: Aws, parameter: str) -> str | None:
    try:
        return str(aws.ssm_public.get_parameter(Name=parameter)["Parameter"]["Value"])
    except AwsFailure as exc:
        if error_code(exc) != "ParameterNotFound":
            raise
        return None


def bottlerocket_result(name: str, parameter: str, published: str | None, where: str) -> CheckResult:
    """Pure: the pinned Bottlerocket release's parameter, published (its value) or not (None)."""
    if published is None:
        return CheckResult(name, Status.FAIL, f"{parameter} is not published for {where}: the pinned Bottlerocket "
                                              "release is not available there",
                           "pin a published release in core/versions.py BOTTLEROCKET_NVIDIA_RELEASES, or use "
                           "AL2023_x86_64_NVIDIA")
    return CheckResult(name, Status.PASS, f"node groups pin release {published} for {where}")


def _pinned(version: str, ami_type: str) -> tuple[str, str] | None:
    """(check name, parameter) of a pinned AMI type; None when the type is not pinned here."""
    if ami_type in AMI_PATHS and node_release_version(version, ami_type) is not None:
        return f"ami {AMI_PATHS[ami_type].split('/', 1)[1]}", parameter_name(version, ami_type)
    parameter = bottlerocket_release_parameter(version, ami_type)
    return None if parameter is None else (f"ami bottlerocket {parameter.split('/')[5]}/nvidia", parameter)


def check_ami_releases(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """One result per pinned AMI type of the node pools."""
    version = cfg.cluster.version
    ami_types = sorted({cfg.node_pools.system.ami_type, *(p.ami_type for p in cfg.node_pools.gpu)})
    for ami_type in ami_types:
        pinned = _pinned(version, ami_type)
        if pinned is None:
            continue  # Karpenter-only or unpinnable types are refused by config validation
        name, parameter = pinned
        try:
            published = _published(aws, parameter)
        except AwsFailure as exc:
            yield CheckResult(name, Status.WARN, f"could not read {parameter} ({describe(exc)}): the pinned release "
                                                 "is unchecked",
                              f"allow ssm:GetParameter on it, or check with `aws ssm get-parameter --name {parameter} "
                              f"--region {cfg.environment.region}` before `up`")
            continue
        where = f"Kubernetes {version} {ami_type} in {cfg.environment.region}"
        release = node_release_version(version, ami_type)
        yield release_result(name, release, published, where) if release else \
            bottlerocket_result(name, parameter, published, where)
