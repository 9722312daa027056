"""What EKS and the charts need that no mock can show (issue #9 §3, §4 upgrades), as assertions on each
shipped environment's planned graph. Each test names its source."""

from __future__ import annotations

from typing import Any

from mlops_platform.aws.nodepools import ACCELERATOR_LABEL
from mlops_platform.config import PlatformConfig
from mlops_platform.config.sections import UpgradePolicy
from mlops_platform.core.gpu_sharing import GpuSharing
from mlops_platform.core.versions import autoscaler_chart, minor_pins
from mlops_platform.engine import Plan, Resource
from mlops_platform.k8s.monitoring import EKS_HIDDEN_CONTROL_PLANE
from mlops_platform.k8s.storage import DEFAULT_CLASS_ANNOTATION, STORAGE_CLASS

from .planview import helm_values, k8s_of, layer_resources

CA_TAG = "k8s.io/cluster-autoscaler/node-template/label/"


def storage_classes(plan: Plan) -> list[Resource]:
    return k8s_of(plan, "kubernetes:storage.k8s.io/v1:StorageClass")


# ---------------------------------------------------------------- storage
def test_one_default_storage_class_is_encrypted_gp3_on_the_platform_ebs_key(plan: Plan, cfg: PlatformConfig) -> None:
    """EKS User Guide, kubernetes-versions-standard (1.30): new clusters have no default StorageClass.
    aws-ebs-csi-driver docs/parameters.md: `type`, `encrypted`, `kmsKeyId`."""
    (sc,) = storage_classes(plan)
    assert sc.get("metadata.name") == STORAGE_CLASS
    assert sc.get("metadata.annotations")[DEFAULT_CLASS_ANNOTATION] == "true"
    assert sc.get("provisioner") == "ebs.csi.aws.com"
    assert sc.get("parameters") == {"type": "gp3", "encrypted": "true",
                                    "kmsKeyId": plan.outputs["kms_key_arns"]["ebs"]}
    assert sc.get("volumeBindingMode") == "WaitForFirstConsumer"
    assert sc.get("reclaimPolicy") == ("Retain" if cfg.is_prod else "Delete")


def claims(values: dict[str, Any]) -> dict[str, Any]:
    return {"prometheus": values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"],
            "alertmanager": values["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"],
            "grafana": values["grafana"]["persistence"]}


def test_prometheus_alertmanager_and_grafana_claim_the_encrypted_class(plan: Plan) -> None:
    values = helm_values(plan, "kube-prometheus-stack")
    assert {name: c["storageClassName"] for name, c in claims(values).items()} == dict.fromkeys(
        ("prometheus", "alertmanager", "grafana"), STORAGE_CLASS)
    assert values["grafana"]["persistence"]["enabled"] is True
    # grafana 9.0.0 values.yaml: RollingUpdate by default, which deadlocks on a ReadWriteOnce volume
    assert values["grafana"]["deploymentStrategy"] == {"type": "Recreate"}
    (sc,) = storage_classes(plan)
    stack = next(r for r in layer_resources(plan) if r.type == "kubernetes:helm.sh/v3:Release"
                 and r.get("name") == "kube-prometheus-stack")
    assert sc.urn in stack.dependencies  # the claims are never created before their class


# ---------------------------------------------------------------- monitoring, training
def test_control_plane_scrapes_eks_does_not_expose_are_off(plan: Plan) -> None:
    """EKS runs the controller manager, scheduler and etcd out of the cluster's reach; kube-prometheus-stack
    72.6.2 values.yaml enables their ServiceMonitors and *Down alerts by default."""
    values = helm_values(plan, "kube-prometheus-stack")
    assert set(EKS_HIDDEN_CONTROL_PLANE) == {"kubeControllerManager", "kubeScheduler", "kubeEtcd"}
    assert all(values[c] == {"enabled": False} for c in EKS_HIDDEN_CONTROL_PLANE)


# ---------------------------------------------------------------- cluster-autoscaler and GPU pools
def test_autoscaler_chart_and_image_follow_the_version_matrix(plan: Plan, cfg: PlatformConfig) -> None:
    (release,) = [r for r in layer_resources(plan) if r.type == "kubernetes:helm.sh/v3:Release"
                  and r.get("name") == "cluster-autoscaler"]
    assert (release.get("chart"), release.get("version")) == ("cluster-autoscaler",
                                                              autoscaler_chart(cfg.cluster.version).version)
    assert release.get("values.image.tag") == minor_pins(cfg.cluster.version).autoscaler_image


def test_gpu_node_groups_carry_the_autoscaler_accelerator_label_and_tag(plan: Plan, cfg: PlatformConfig) -> None:
    """kubernetes/autoscaler cloudprovider/aws README, "Special note on GPU instances": nodes labelled
    `k8s.amazonaws.com/accelerator` are treated as GPU nodes still starting until the device plugin
    advertises the GPUs (no repeated scale-up); the node-template tag carries it at zero nodes."""
    groups = {r.get("nodeGroupNamePrefix").removesuffix("-"): r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    for pool in cfg.node_pools.gpu:
        if pool.sharing is not GpuSharing.NONE:
            continue  # test_gpu_sharing: shared pools must not carry it
        label = groups[pool.name].get("labels")[ACCELERATOR_LABEL]
        assert label.startswith("nvidia-") and not label.endswith("unknown")
        assert groups[pool.name].get("tags")[CA_TAG + ACCELERATOR_LABEL] == label
        # the autoscaler reads node templates from the Auto Scaling group's own tags
        asg_tags = {r.get("tag.key"): r.get("tag.value") for r in plan.of_type("aws:autoscaling/tag:Tag")
                    if f"-{pool.name}-asg-" in r.name}
        assert asg_tags[CA_TAG + ACCELERATOR_LABEL] == label
    assert ACCELERATOR_LABEL not in groups[cfg.node_pools.system.name].get("labels")


# ---------------------------------------------------------------- disruption budgets
def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_platform_deployment_with_replicas_has_a_disruption_budget(plan: Plan) -> None:
    budgets = [(b.get("metadata.namespace"), b.get("spec.selector.matchLabels") or {})
               for b in k8s_of(plan, "kubernetes:policy/v1:PodDisruptionBudget")]
    for deployment in k8s_of(plan, "kubernetes:apps/v1:Deployment"):
        if (deployment.get("spec.replicas") or 1) > 1:
            ns, labels = deployment.get("metadata.namespace"), deployment.get("spec.template.metadata.labels")
            assert any(b_ns == ns and selects(sel, labels) for b_ns, sel in budgets), deployment.name


def test_the_autoscaler_has_an_explicit_disruption_budget(plan: Plan) -> None:
    # cluster-autoscaler chart templates/pdb.yaml renders one when `podDisruptionBudget` is set
    assert helm_values(plan, "cluster-autoscaler")["podDisruptionBudget"] == {"maxUnavailable": 1}


# ---------------------------------------------------------------- upgrades: everything pinned by the matrix
def test_node_groups_and_addons_pin_the_matrix_versions(plan: Plan, cfg: PlatformConfig) -> None:
    pins = minor_pins(cfg.cluster.version)
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.get("version") == cfg.cluster.version, group.name
        if group.get("amiType").startswith("AL2023_"):
            assert group.get("releaseVersion") == pins.node_release, group.name
    addons = {r.get("addonName"): r.get("addonVersion") for r in plan.of_type("aws:eks/addon:Addon")}
    assert addons == {name: pins.addons[name] for name in addons}
    assert set(addons) == set(pins.addons)  # the matrix pins exactly the add-ons the cluster installs


def test_the_upgrade_policy_is_the_tiers_explicit_choice(plan: Plan, cfg: PlatformConfig) -> None:
    """EKS User Guide, view-upgrade-policy: STANDARD is upgraded automatically at the end of standard support,
    EXTENDED stays (billed) until the end of extended support."""
    (cluster,) = plan.of_type("aws:eks/cluster:Cluster")
    expected = UpgradePolicy.EXTENDED if cfg.is_prod else UpgradePolicy.STANDARD
    assert cfg.cluster.upgrade_policy in (None, expected)
    assert cluster.get("upgradePolicy") == {"supportType": expected.value}
