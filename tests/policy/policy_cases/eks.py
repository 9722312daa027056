"""Fixtures of the policies in `mlops_platform.policy.rules.eks`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U

from policy_cases._base import CLUSTER, DEFERRED, GPU, PASSES, SYSTEM, Case, fail, ok, on, u

ADDON = on("aws:eks/addon:Addon", "addon-vpc-cni")

CASES: dict[str, Case] = {
    "eks-private-endpoint": Case(
        passing=(ok(),),
        failing=(fail(CLUSTER, Patch("eks", "vpcConfig.endpointPublicAccess", True)),
                 fail(CLUSTER, Patch("eks", "vpcConfig.endpointPublicAccess", DROP)),
                 fail(CLUSTER, Patch("eks", "vpcConfig.endpointPrivateAccess", False))),
        unknown=u(DEFERRED, Patch("eks", "vpcConfig.endpointPublicAccess", U))),
    "eks-secrets-encryption": Case(
        passing=(ok(), ok(Patch("eks", "encryptionConfig.provider.keyArn", U))),
        failing=(fail(CLUSTER, Patch("eks", "encryptionConfig", DROP)),
                 fail(CLUSTER, Patch("eks", "encryptionConfig.provider.keyArn", ""))),
        unknown=u(PASSES, Patch("eks", "encryptionConfig.provider.keyArn", U))),
    "eks-control-plane-logging": Case(
        passing=(ok(),), failing=(fail(CLUSTER, Patch("eks", "enabledClusterLogTypes", ["api"])),
                                  fail(CLUSTER, Patch("eks", "enabledClusterLogTypes", DROP))),
        unknown=u(DEFERRED, Patch("eks", "enabledClusterLogTypes", U))),
    "eks-supported-version": Case(
        passing=(ok(), ok(Patch("eks", "version", "1.35"))),
        failing=(fail(CLUSTER, Patch("eks", "version", "1.29")), fail(CLUSTER, Patch("eks", "version", DROP)),
                 fail(CLUSTER, Patch("eks", "version", "1.31"))),  # 1.31 left standard support 2025-11-26
        unknown=u(DEFERRED, Patch("eks", "version", U))),
    "eks-access-entries": Case(
        passing=(ok(),),
        failing=(fail(CLUSTER, Patch("eks", "accessConfig.authenticationMode", "API_AND_CONFIG_MAP")),
                 fail(CLUSTER, Patch("eks", "accessConfig", DROP))),
        unknown=u(DEFERRED, Patch("eks", "accessConfig.authenticationMode", U))),
    "eks-versions-pinned": Case(
        passing=(ok(), ok(Patch("system", "version", "1.34"))),
        failing=(fail(SYSTEM, Patch("system", "version", DROP)),
                 fail(GPU, Patch("gpu-l4", "version", "")),
                 fail(ADDON, Patch("addon-vpc-cni", "addonVersion", DROP))),
        unknown=u(DEFERRED, Patch("addon-vpc-cni", "addonVersion", U))),
}
