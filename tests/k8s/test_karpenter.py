"""`gpu.provisioner: karpenter`, planned by the offline engine (staging with the provisioner switched): the aws
layer's IAM, queue, rules and tags, the cluster layer's release and one NodePool + EC2NodeClass per GPU pool,
validated against the published CRD schemas and chart values of the pinned Karpenter (tests/fixtures/upstream).
The default (managed node groups) is checked to be unchanged on a shipped environment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.aws.nodepools import pool_spec
from mlops_platform.config import PlatformConfig, load_env, load_stack_file, repo_root
from mlops_platform.config.gpu_provisioning import gpu_limit
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import iam
from mlops_platform.core.contract import PlatformOutputs
from mlops_platform.core.iam_karpenter import INTERRUPTION_EVENTS, KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT
from mlops_platform.core.layers import Layer
from mlops_platform.core.versions import (
    CHARTS,
    KARPENTER_KUBERNETES,
    SUPPORTED_EKS_VERSIONS,
    bottlerocket_release,
    minor_pins,
)
from mlops_platform.engine import Plan, Resource, run_platform
from mlops_platform.k8s.karpenter import NodeClassInputs, controller_values, node_class
from mlops_platform.workflows.review import Subject, platform_config, resolve_waivers, review
from ruamel.yaml import YAML

from .crds import manifest
from .test_chart_values import FREE_FORM, problems_of
from .test_upstream_fixtures import as_sent
from .upstream import crd_schema, crd_validator, unknown_values, upstream_values

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def kcfg(karpenter_stack: Path) -> PlatformConfig:
    return load_stack_file(karpenter_stack)


def of(plan: Plan, type_: str) -> list[Resource]:
    return [r for r in plan.resources if r.type == type_]


def by_pool(plan: Plan, type_: str) -> dict[str, Resource]:
    return {r.get("metadata.name"): r for r in of(plan, type_)}


def one(plan: Plan, type_: str, contains: str = "") -> Resource:
    found = [r for r in of(plan, type_) if contains in r.name]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def release(plan: Plan) -> Resource:
    (rel,) = [r for r in of(plan, RELEASE) if r.get("chart") == CHARTS["karpenter"].chart]
    return rel


# --- the default is unchanged ------------------------------------------------------------------------------

def test_managed_node_groups_stay_the_default(plans: dict[str, Plan]) -> None:
    plan, cfg = plans["staging"], load_env("staging")
    assert not cfg.karpenter
    groups = of(plan, "aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 1 + len(cfg.node_pools.gpu)
    assert not [r for r in plan.resources if "karpenter" in r.type.lower() or "Karpenter" in r.type]
    assert not [r for r in of(plan, RELEASE) if r.get("chart") == CHARTS["karpenter"].chart]


# --- aws layer ------------------------------------------------------------------------------------------------

def test_only_the_system_pool_is_a_node_group(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    (group,) = of(karpenter_plan, "aws:eks/nodeGroup:NodeGroup")
    assert group.get("labels")["mlops.io/pool"] == kcfg.node_pools.system.name


def test_controller_role_is_bound_by_pod_identity_to_its_service_account(karpenter_plan: Plan,
                                                                        kcfg: PlatformConfig) -> None:
    """EKS Pod Identity: the role trusts pods.eks.amazonaws.com for this account, cluster, namespace and
    ServiceAccount only (session tags: docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html)."""
    assoc = one(karpenter_plan, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "karpenter")
    assert (assoc.get("namespace"), assoc.get("serviceAccount")) == (KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT)
    role = one(karpenter_plan, "aws:iam/role:Role", "karpenter-controller-role")
    (stmt,) = json.loads(role.get("assumeRolePolicy"))["Statement"]
    assert stmt["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(stmt["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert stmt["Condition"]["StringEquals"] == {
        "aws:SourceAccount": kcfg.environment.account_id, "aws:RequestTag/eks-cluster-name": kcfg.cluster_name,
        "aws:RequestTag/kubernetes-namespace": "kube-system", "aws:RequestTag/kubernetes-service-account": "karpenter"}


def _controller_policy(plan: Plan) -> dict[str, Any]:
    return json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller-policy").get("policy"))


def test_controller_policy_is_upstreams_scoped_to_this_cluster(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    """karpenter-provider-aws v1.14 getting-started cloudformation.yaml: the same statements (Sids), every write
    conditioned on this cluster's tags, PassRole only for the node role, the queue only, the EBS key via EC2."""
    doc = _controller_policy(karpenter_plan)
    assert iam.check_document(doc) == []
    sids = {s["Sid"]: s for s in doc["Statement"]}
    assert set(sids) >= {"AllowScopedEC2InstanceAccessActions", "AllowScopedEC2LaunchTemplateAccessActions",
                         "AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging",
                         "AllowScopedResourceTagging", "AllowScopedDeletion", "AllowPassingInstanceRole",
                         "AllowScopedInstanceProfileCreationActions", "AllowScopedInstanceProfileTagActions",
                         "AllowScopedInstanceProfileActions", "AllowInstanceProfileReadActions",
                         "AllowUnscopedInstanceProfileListAction", "AllowAPIServerEndpointDiscovery",
                         "AllowInterruptionQueueActions", "AllowRegionalReadActions", "AllowSSMReadActions",
                         "AllowPricingReadActions", "AllowNodeVolumeKey", "AllowNodeVolumeKeyGrants"}
    owned = f"kubernetes.io/cluster/{kcfg.cluster_name}"
    for sid in ("AllowScopedEC2InstanceActionsWithTags", "AllowScopedResourceCreationTagging",
                "AllowScopedDeletion", "AllowScopedResourceTagging", "AllowScopedInstanceProfileActions"):
        equals = sids[sid]["Condition"]["StringEquals"]
        assert equals.get(f"aws:RequestTag/{owned}", equals.get(f"aws:ResourceTag/{owned}")) == "owned", sid
    node_role = one(karpenter_plan, "aws:iam/role:Role", "karpenter-node-role")
    assert sids["AllowPassingInstanceRole"]["Resource"] == [f"arn:aws:iam::{kcfg.environment.account_id}:role/"
                                                            f"{node_role.get('name')}"]
    queue = one(karpenter_plan, "aws:sqs/queue:Queue", "karpenter")
    (queue_arn,) = sids["AllowInterruptionQueueActions"]["Resource"]
    policy = one(karpenter_plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller-policy")
    assert queue_arn.startswith("arn:aws:sqs:") and queue.urn in policy.property_dependencies["policy"]
    assert sids["AllowNodeVolumeKey"]["Condition"]["StringEquals"]["kms:ViaService"] == "ec2.us-east-1.amazonaws.com"
    # inline role policies are limited to 10,240 characters (IAM quotas, "Role policy size")
    assert len(json.dumps(doc, separators=(",", ":"))) < 10_240


def test_node_role_joins_the_cluster_through_an_ec2_linux_access_entry(karpenter_plan: Plan) -> None:
    """https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html: EC2_LINUX for nodes."""
    entry = one(karpenter_plan, "aws:eks/accessEntry:AccessEntry", "karpenter-node-access")
    role = one(karpenter_plan, "aws:iam/role:Role", "karpenter-node-role")
    assert entry.get("type") == "EC2_LINUX"
    assert role.urn in entry.property_dependencies.get("principalArn", ())
    trust = json.loads(role.get("assumeRolePolicy"))["Statement"][0]
    assert trust["Principal"] == {"Service": ["ec2.amazonaws.com"]}


def test_interruption_queue_is_encrypted_and_fed_by_the_four_event_kinds(karpenter_plan: Plan) -> None:
    """Spot interruption, rebalance, instance state change and AWS Health scheduled change (upstream also
    sends capacity-reservation interruptions), each a rule whose target is the queue."""
    queue = one(karpenter_plan, "aws:sqs/queue:Queue", "karpenter")
    assert queue.get("sqsManagedSseEnabled") is True and queue.get("messageRetentionSeconds") == 300
    policy = json.loads(one(karpenter_plan, "aws:sqs/queuePolicy:QueuePolicy", "karpenter").get("policy"))
    allow, deny = policy["Statement"]
    assert allow["Principal"]["Service"] == ["events.amazonaws.com", "sqs.amazonaws.com"]
    assert allow["Action"] == ["sqs:SendMessage"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    patterns = {json.loads(r.get("eventPattern"))["detail-type"][0] for r in of(karpenter_plan,
                                                                                 "aws:cloudwatch/eventRule:EventRule")}
    assert patterns == {detail for _, detail in INTERRUPTION_EVENTS.values()}
    assert {"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation",
            "EC2 Instance State-change Notification", "AWS Health Event"} <= patterns
    targets = of(karpenter_plan, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(INTERRUPTION_EVENTS)
    assert all(queue.urn in t.property_dependencies.get("arn", ()) for t in targets)


def test_subnets_and_security_group_carry_the_discovery_tag(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    subnets = [s for s in of(karpenter_plan, "aws:ec2/subnet:Subnet") if "private" in s.name]
    assert subnets and all(s.get("tags")["karpenter.sh/discovery"] == kcfg.cluster_name for s in subnets)
    public = [s for s in of(karpenter_plan, "aws:ec2/subnet:Subnet") if "public" in s.name]
    assert not [s for s in public if "karpenter.sh/discovery" in s.get("tags")]  # nodes never go public
    tag = one(karpenter_plan, "aws:ec2/tag:Tag", "discovery-cluster-sg")
    assert (tag.get("key"), tag.get("value")) == ("karpenter.sh/discovery", kcfg.cluster_name)


# --- cluster layer --------------------------------------------------------------------------------------------

def test_every_nodepool_and_nodeclass_validates_against_the_published_crds(karpenter_plan: Plan,
                                                                           kcfg: PlatformConfig) -> None:
    """karpenter.sh/v1 NodePool and karpenter.k8s.aws/v1 EC2NodeClass at v1.14.1 (tests/fixtures/upstream/crds)."""
    checked = 0
    for type_, key in ((NODEPOOL, ("karpenter.sh", "NodePool", "v1")),
                       (NODECLASS, ("karpenter.k8s.aws", "EC2NodeClass", "v1"))):
        found = of(karpenter_plan, type_)
        assert sorted(r.get("metadata.name") for r in found) == sorted(p.name for p in kcfg.node_pools.gpu)
        for res in found:
            errors = crd_validator(*key).iter_errors(as_sent(manifest(res)))
            assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors] == [], res.name
            checked += 1
    assert checked == 2 * len(kcfg.node_pools.gpu)


def test_nodepools_carry_the_managed_pools_taint_and_labels(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    """Workloads select a pool the same way under either provisioner: the labels of aws/nodepools.pool_spec."""
    pools = by_pool(karpenter_plan, NODEPOOL)
    for pool in kcfg.node_pools.gpu:
        spec = pools[pool.name].get("spec")
        assert spec["template"]["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true",
                                                       "effect": "NoSchedule"}]
        assert spec["template"]["metadata"]["labels"] == pool_spec(pool).labels
        assert spec["template"]["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                            "name": pool.name}
        reqs = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        assert reqs["node.kubernetes.io/instance-type"] == pool.instance_types
        assert reqs["karpenter.sh/capacity-type"] == (["spot", "on-demand"] if pool.capacity == "spot"
                                                      else ["on-demand"])
        assert spec["disruption"]["consolidationPolicy"] == "WhenEmpty"


def test_nodepool_limits_bound_the_environments_gpus(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    limits = {name: int(r.get("spec")["limits"]["nvidia.com/gpu"]) for name, r in by_pool(karpenter_plan,
                                                                                           NODEPOOL).items()}
    assert limits == {p.name: gpu_limit(p) for p in kcfg.node_pools.gpu}
    assert sum(limits.values()) <= kcfg.gpu.max_total_gpus


def test_nodeclasses_are_hardened_and_pinned(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    ebs_key = [r for r in of(karpenter_plan, "aws:kms/key:Key") if r.name.endswith("-ebs")]
    node_role = one(karpenter_plan, "aws:iam/role:Role", "karpenter-node-role")
    date = minor_pins(kcfg.cluster.version).node_release.rsplit("-", 1)[1]
    for res in of(karpenter_plan, NODECLASS):
        spec = res.get("spec")
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert spec["amiSelectorTerms"] == [{"alias": f"al2023@v{date}"}]
        assert spec["role"] == node_role.get("name")
        (root,) = spec["blockDeviceMappings"]
        assert root["rootVolume"] and root["ebs"]["encrypted"] is True and root["ebs"]["volumeType"] == "gp3"
        assert len(ebs_key) == 1 and root["ebs"]["kmsKeyID"].startswith("arn:aws:kms:")
        discovery = [{"tags": {"karpenter.sh/discovery": kcfg.cluster_name}}]
        assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == discovery


def test_crds_come_from_their_own_chart_at_the_controllers_version(karpenter_plan: Plan) -> None:
    """Helm installs a chart's crds/ once and never upgrades them; Karpenter's v1.14 upgrade guide ("CRD
    Upgrades") recommends the karpenter-crd chart, moved with the controller."""
    rel = release(karpenter_plan)
    (crds,) = [r for r in of(karpenter_plan, RELEASE) if r.get("chart") == CHARTS["karpenter-crd"].chart]
    assert crds.get("version") == rel.get("version") == CHARTS["karpenter"].version
    assert rel.get("skipCrds") is True and crds.urn in rel.dependencies
    for res in [*of(karpenter_plan, NODEPOOL), *of(karpenter_plan, NODECLASS)]:
        assert {rel.urn, crds.urn} <= set(res.dependencies), res.name


def test_release_is_pinned_and_configured_for_this_cluster(karpenter_plan: Plan, kcfg: PlatformConfig) -> None:
    """The queue name and the node role reach the cluster layer through the aws layer's outputs
    (contract.AwsLayerOutputs karpenter_interruption_queue / karpenter_node_role, read by StackReference)."""
    rel = release(karpenter_plan)
    assert rel.get("version") == CHARTS["karpenter"].version and rel.get("namespace") == "kube-system"
    values = rel.get("values")
    queue = one(karpenter_plan, "aws:sqs/queue:Queue", "karpenter")
    assert values["settings"] == {"clusterName": kcfg.cluster_name, "interruptionQueue": queue.get("name")}
    assert values["nodeSelector"]["mlops.io/pool"] == kcfg.node_pools.system.name
    assert values["replicas"] == 1  # staging; prod runs two (below)
    monitoring = next(r for r in of(karpenter_plan, RELEASE) if r.get("chart") == "kube-prometheus-stack")
    assert values["serviceMonitor"] == {"enabled": True} and monitoring.urn in rel.dependencies
    assert "annotations" not in values["serviceAccount"]  # Pod Identity, not IRSA


def test_every_karpenter_value_exists_in_the_chart(karpenter_plan: Plan) -> None:
    """karpenter 1.14.1 charts/karpenter/values.yaml (tests/fixtures/upstream/values/karpenter-1.14.1.json)."""
    assert problems_of(karpenter_plan) == []


def test_prod_runs_two_replicas_with_the_charts_pdb() -> None:
    values = controller_values(cluster_name="mlops-prod", interruption_queue="q", system_pool="system", prod=True)
    assert values["replicas"] == 2 and values["podDisruptionBudget"]["maxUnavailable"] == 1
    upstream = upstream_values("karpenter", CHARTS["karpenter"].version)
    assert unknown_values(values, upstream, FREE_FORM["karpenter"]) == []


def test_the_pinned_karpenter_supports_every_platform_kubernetes_version() -> None:
    """karpenter-provider-aws website/content/en/v1.14/upgrading/compatibility.md (compatibility matrix)."""
    assert set(SUPPORTED_EKS_VERSIONS) <= set(KARPENTER_KUBERNETES)
    assert CHARTS["karpenter"].version.startswith("1.14.")


def test_the_outputs_contract_describes_each_pool_under_either_provisioner(karpenter_plan: Plan,
                                                                           plans: dict[str, Plan]) -> None:
    """`gpu_pools` (contract.GpuPoolOutput) tells projects who provisions a pool and how many GPUs it holds."""
    for plan, provisioner in ((karpenter_plan, "karpenter"), (plans["staging"], "managed_node_groups")):
        pools = PlatformOutputs.model_validate(plan.outputs).gpu_pools
        assert pools and all(p.provisioner == provisioner for p in pools.values())
        assert all(p.max_gpus == p.max_nodes * p.gpus_per_node for p in pools.values())


def test_the_karpenter_environment_passes_the_policy_pack(karpenter_plan: Plan, karpenter_stack: Path) -> None:
    """Reviewed as `mlplat review` reviews a shipped staging environment (mandatory from medium severity); cheap
    (the plan is the session's), so not in the slow group."""
    plan = karpenter_plan.to_json()
    report = review(Subject(plan, karpenter_stack, platform_config(None, karpenter_stack)),
                    waivers=resolve_waivers(None, repo_root()))
    assert [(f.policy, f.resource) for f in report.blocking] == []
    assert report.unknowns == []


def test_brought_subnets_are_tagged_for_discovery(karpenter_stack: Path, tmp_path: Path) -> None:
    """A brought VPC's subnets are not the platform's to re-tag wholesale: one aws.ec2.Tag each."""
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(karpenter_stack.read_text(encoding="utf-8"))
    subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    doc["config"]["mlops-platform:network"] = {"mode": "existing", "existing": {
        "vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": subnets}}
    path = tmp_path / karpenter_stack.name
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    plan = run_platform(stack_file=path, layer=Layer.AWS)
    tags = {r.get("resourceId"): r.get("value") for r in of(plan, "aws:ec2/tag:Tag")
            if r.get("key") == "karpenter.sh/discovery"}
    assert {s: tags.get(s) for s in subnets} == dict.fromkeys(subnets, "mlops-staging")
    assert not of(plan, "aws:ec2/subnet:Subnet")


# --- Bottlerocket node classes (pure: config → manifest → the v1.14.1 CRD) -----------------------------------

BOTTLEROCKET = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
                           / "bottlerocket-nvidia-variants.json").read_text())


def _alias_rules() -> list[str]:
    """The CEL rules of amiSelectorTerms[].alias and the spec's amiFamily/alias rule, from the CRD fixture."""
    spec = crd_schema("karpenter.k8s.aws", "EC2NodeClass", "v1")["properties"]["spec"]
    alias = spec["properties"]["amiSelectorTerms"]["items"]["properties"]["alias"]
    return [v["rule"] for v in alias["x-kubernetes-validations"]] + [
        v["rule"] for v in spec["x-kubernetes-validations"] if "bottlerocket" in v["rule"]]


@pytest.mark.parametrize("minor", SUPPORTED_EKS_VERSIONS)
@pytest.mark.parametrize(("ami_type", "instance_type"), [("BOTTLEROCKET_x86_64_NVIDIA", "g6.xlarge"),
                                                         ("BOTTLEROCKET_ARM_64_NVIDIA", "g5g.xlarge")])
def test_bottlerocket_nodeclass_validates_and_encrypts_its_os_and_data_volumes(minor: str, ami_type: str,
                                                                              instance_type: str) -> None:
    pool = GpuPoolConfig(name="br", instance_types=[instance_type], max_size=1, ami_type=ami_type, disk_size_gib=200)
    inputs = NodeClassInputs(cluster_name="c", k8s_version=minor, node_role="role", tags={"team": "ml"},
                             volume_key_arn="arn:aws:kms:eu-west-1:111122223333:key/abc")
    nc = node_class(pool, inputs)
    errors = crd_validator("karpenter.k8s.aws", "EC2NodeClass", "v1").iter_errors(nc)
    assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors] == []
    spec = nc["spec"]
    # CEL rules the JSON-schema validator cannot run, checked against their text in the fixture:
    # `self.matches('^[a-zA-Z0-9]+@.+$')`, the family list, and amiFamily unset (or Bottlerocket) with the alias
    (term,) = spec["amiSelectorTerms"]
    alias = term["alias"]
    rules = _alias_rules()
    assert "self.matches('^[a-zA-Z0-9]+@.+$')" in rules and re.fullmatch(r"[a-zA-Z0-9]+@.+", alias)
    assert any("'bottlerocket'" in r and "self.split('@')[0] in" in r for r in rules) and len(alias) <= 30
    # the amiFamily/alias rule holds trivially: amiFamily is optional with an alias (Karpenter takes the family
    # from it), exactly as for the AL2023 node classes
    assert any(r.startswith("!has(self.amiFamily) ||") and "== 'bottlerocket'" in r for r in rules)
    assert "amiFamily" not in spec
    assert alias == f"bottlerocket@v{bottlerocket_release(minor)}"
    assert f"aws-k8s-{minor}-nvidia" in BOTTLEROCKET["releases"][bottlerocket_release(minor)]
    # Bottlerocket's two volumes (karpenter-provider-aws amifamily/bottlerocket.go): OS on xvda, data on xvdb
    devices = BOTTLEROCKET["block_devices"]
    os_volume, data = spec["blockDeviceMappings"]
    assert (os_volume["deviceName"], os_volume["ebs"]["volumeSize"]) == (devices["os_device"],
                                                                          devices["os_volume_size"])
    assert data["deviceName"] == devices["data_device"] and data["rootVolume"] is True
    assert data["ebs"]["volumeSize"] == "200Gi" and "rootVolume" not in os_volume
    for mapping in (os_volume, data):
        assert mapping["ebs"]["encrypted"] is True and mapping["ebs"]["kmsKeyID"] == inputs.volume_key_arn
        assert mapping["ebs"]["volumeType"] == "gp3"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert spec["metadataOptions"]["httpTokens"] == "required"
