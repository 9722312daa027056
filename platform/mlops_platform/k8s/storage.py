"""The cluster's default StorageClass: encrypted gp3 on the platform's EBS key.

New EKS clusters from 1.30 have no default StorageClass (EKS User Guide, kubernetes-versions-standard,
1.30: "no longer includes the default annotation on the gp2 StorageClass"), so a PVC that names no class
stays Pending forever. This class is the default and every platform claim names it anyway (a user-set default elsewhere
must not move the platform's data onto an unencrypted or default-key volume).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.manifests import meta

STORAGE_CLASS = "gp3-encrypted"
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def storage_class_parameters(ebs_key_arn: Any) -> dict[str, Any]:
    """EBS CSI driver parameters (aws-ebs-csi-driver docs/parameters.md): gp3, encrypted with our key."""
    return {"type": "gp3", "encrypted": "true", "kmsKeyId": ebs_key_arn}


def encrypted_storage_class(name: str, ebs_key_arn: pulumi.Input[str], retain: bool,
                            opts: pulumi.ResourceOptions) -> k8s.storage.v1.StorageClass:
    """The default class. `retain` (prod) keeps a volume when its claim is deleted; volumes bind where the
    pod lands (WaitForFirstConsumer), so a zonal volume never strands a pod in another zone."""
    return k8s.storage.v1.StorageClass(
        name, metadata=meta(STORAGE_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
        provisioner=EBS_CSI_PROVISIONER, parameters=pulumi.Output.from_input(ebs_key_arn).apply(
            storage_class_parameters),
        reclaim_policy="Retain" if retain else "Delete", volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True, opts=opts)
