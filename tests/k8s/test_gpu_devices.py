"""Device-level GPU parts: the AWS EFA device plugin on EFA pools' nodes and the EFA devices training pods
request, and MIG partitioning by NVIDIA's mig-manager (GPU Operator with only it enabled) for MIG pools.

Upstream facts (tests/fixtures/upstream, README there): the charts' values keys (aws-efa-k8s-device-plugin
v0.5.30, gpu-operator v26.3.3), the mig-parted config format (mig-parted v0.14.2 api/spec/v1/spec.go) and the
default mig-parted config the operator ships (the MIG profiles and counts per GPU model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlops_platform.aws.nodepools import pool_spec
from mlops_platform.config import load_env
from mlops_platform.config.loader import load_stack_file, stack_file_for
from mlops_platform.config.rules import check_rules, check_warnings
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import contract
from mlops_platform.core.chart_images import CHART_IMAGES
from mlops_platform.core.gpu_sharing import (
    DCGM_EXPORTER_DEPLOY_LABEL,
    DEVICE_PLUGIN_CONFIG_LABEL,
    DEVICE_PLUGIN_DEPLOY_LABEL,
    MIG_CONFIG_LABEL,
    MIG_DEVICE_IDS,
    MIG_MANAGER_DEPLOY_LABEL,
    MIG_PAUSED,
    MIG_PROFILES,
    GpuSharing,
    PoolSharing,
)
from mlops_platform.core.image_mirror import Mirror
from mlops_platform.core.instances import GpuType
from mlops_platform.core.layers import Layer
from mlops_platform.core.versions import CHARTS, VERSION_MATRIX
from mlops_platform.engine import Plan, run_platform
from mlops_platform.k8s.air_gap import CHART_KEYS as KEYS
from mlops_platform.k8s.air_gap import AirGap, release_props
from mlops_platform.k8s.gpu import dcgm_values, device_plugin_values, efa_plugin_values
from mlops_platform.k8s.karpenter import node_pool
from mlops_platform.k8s.kueue import KueueArgs, manager_config
from mlops_platform.k8s.mig_manager import (
    DISABLED_OPERANDS,
    MIG_DISABLED,
    gpu_operator_values,
    mig_parted_config,
)
from mlops_platform.k8s.project_pipeline import (
    ProjectPipelineArgs,
    StepResources,
    TrainingBackend,
    efa_per_pod,
    ray_job,
    step_resources,
)
from mlops_platform.programs.common import installed_charts
from mlops_platform.programs.tenants_program import gpu_pool_outputs
from ruamel.yaml import YAML

from .planview import helm_values
from .upstream import UPSTREAM, admits, unknown_values, upstream_values

MIG_SCHEMA = json.loads((UPSTREAM / "mig-parted-config-v1.json").read_text())
MIG_DEFAULTS = json.loads((UPSTREAM / "mig-parted-default-config.json").read_text())["mig-configs"]
MIG = [PoolSharing(pool="a100", sharing=GpuSharing.MIG, mig_profile="1g.10gb", gpu_type=GpuType.A100),
       PoolSharing(pool="h100", sharing=GpuSharing.MIG, mig_profile="1g.10gb", gpu_type=GpuType.H100),
       PoolSharing(pool="l4", sharing=GpuSharing.TIME_SLICING, replicas=4, gpu_type=GpuType.L4)]


def pool(**kw: Any) -> GpuPoolConfig:
    return GpuPoolConfig.model_validate({"name": "p", "instance_types": ["p4d.24xlarge"], "max_size": 1, **kw})


def with_pool(env: str = "dev", **pool_kw: Any) -> Any:
    cfg = load_env(env)
    return cfg.model_copy(update={"node_pools": cfg.node_pools.model_copy(update={"gpu": [pool(**pool_kw)]})})


# ---------------------------------------------------------------- EFA
def test_efa_plugin_runs_only_on_efa_pools_nodes_tolerating_the_gpu_taint() -> None:
    values = efa_plugin_values()
    assert values["nodeSelector"] == {contract.EFA_LABEL: "true"}
    assert values["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    # eks-charts v0.5.30 templates/daemonset.yaml renders nodeSelector and resources with toYaml
    free = {"nodeSelector": "rendered verbatim", "resources": "a Kubernetes ResourceRequirements"}
    assert unknown_values(values, upstream_values("aws-efa-k8s-device-plugin", "v0.5.30"), free) == []
    assert CHARTS["aws-efa-k8s-device-plugin"].version == "v0.5.30"


def test_only_efa_pools_carry_the_efa_label() -> None:
    efa = pool_spec(pool(multi_node={"availability_zone": "us-east-1a", "efa": True}))
    placed = pool_spec(pool(multi_node={"availability_zone": "us-east-1a", "placement_group": True}))
    assert efa.labels[contract.EFA_LABEL] == "true" and contract.EFA_LABEL not in placed.labels


def test_prod_installs_the_efa_plugin_and_tells_projects_the_devices(plans: Any) -> None:
    """prod's a10g-train pool (g5.12xlarge, one EFA) is the only EFA pool: its node group carries the label the
    plugin selects, and the platform's outputs say each node advertises 1 vpc.amazonaws.com/efa."""
    prod = plans["prod"]
    assert helm_values(prod, "aws-efa-k8s-device-plugin")["nodeSelector"] == {contract.EFA_LABEL: "true"}
    groups = {r.get("nodeGroupNamePrefix"): r for r in prod.of_type("aws:eks/nodeGroup:NodeGroup")}
    efa = [name for name, g in groups.items() if contract.EFA_LABEL in g.get("labels")]
    assert efa == ["a10g-train-"]
    outputs = gpu_pool_outputs(load_env("prod"))
    assert {name: out["efa_per_node"] for name, out in outputs.items() if out["efa_per_node"]} == {"a10g-train": 1}
    for env in ("dev", "staging"):  # no EFA pool, no plugin
        assert not [r for r in plans[env].of_type("kubernetes:helm.sh/v3:Release")
                    if r.get("chart") == "aws-efa-k8s-device-plugin"]


@given(per_node=st.integers(1, 32), node_gpus=st.sampled_from([1, 4, 8]), data=st.data())
def test_pods_packed_on_a_node_never_ask_for_more_efa_than_it_has(per_node: int, node_gpus: int,
                                                                  data: st.DataObject) -> None:
    pods = data.draw(st.lists(st.integers(1, node_gpus), max_size=node_gpus).filter(lambda g: sum(g) <= node_gpus))
    out = {"gpus_per_node": node_gpus, "efa_per_node": per_node}
    assert sum(efa_per_pod(out, gpus) for gpus in pods) <= per_node
    assert efa_per_pod(out, node_gpus) == per_node  # a whole-node pod gets every adapter
    assert efa_per_pod({"gpus_per_node": node_gpus, "efa_per_node": 0}, node_gpus) == 0
    assert efa_per_pod(None, node_gpus) == 0


def test_training_pods_request_their_efa_devices_as_limits() -> None:
    res = step_resources(StepResources(cpu="1", memory="4Gi", gpus=4, efa=1))
    assert res == {"requests": {"cpu": "1", "memory": "4Gi"},
                   "limits": {"memory": "4Gi", "nvidia.com/gpu": "4", contract.EFA_RESOURCE: "1"}}
    assert contract.EFA_RESOURCE not in step_resources(StepResources(gpus=1))["limits"]  # type: ignore[index]


def test_ray_workers_request_efa_and_the_head_does_not() -> None:
    job = ray_job(ProjectPipelineArgs(
        project="fraud", namespace="fraud", package="fraud", image="repo@sha256:" + "0" * 64,
        service_account="fraud-pipeline", schedule="0 3 * * 1", backend=TrainingBackend.RAY, gpu_pool="train",
        train=StepResources(cpu="8", memory="64Gi", gpus=8, efa=32), provider=None))  # type: ignore[arg-type]
    cluster = job["spec"]["rayClusterSpec"]
    (worker,) = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    (head,) = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    assert worker["resources"]["limits"][contract.EFA_RESOURCE] == "32"
    assert contract.EFA_RESOURCE not in head["resources"]["limits"]


def test_kueue_does_not_hold_workloads_for_efa_devices() -> None:
    """No ClusterQueue lists vpc.amazonaws.com/efa (node hardware, not tenant quota); Kueue would refuse a
    workload requesting a resource its queue does not cover, so the Configuration excludes it."""
    config = manager_config(KueueArgs(provider=None, k8s_version="1.34", project_label="mlops.io/project"))  # type: ignore[arg-type]
    assert config["resources"] == {"excludeResourcePrefixes": [contract.EFA_RESOURCE]}


# ---------------------------------------------------------------- MIG: config rules
def test_mig_pools_are_labelled_for_mig_manager_and_their_config() -> None:
    spec = pool_spec(pool(name="mig", sharing="mig", mig_profile="1g.5gb"))
    assert {k: spec.labels[k] for k in (DEVICE_PLUGIN_CONFIG_LABEL, MIG_CONFIG_LABEL, MIG_MANAGER_DEPLOY_LABEL)} == {
        DEVICE_PLUGIN_CONFIG_LABEL: "pool-mig", MIG_CONFIG_LABEL: "all-1g.5gb", MIG_MANAGER_DEPLOY_LABEL: "true"}
    assert MIG_MANAGER_DEPLOY_LABEL not in pool_spec(pool(name="whole")).labels


def test_mig_no_longer_warns_and_is_refused_on_bottlerocket() -> None:
    cfg = with_pool(sharing="mig", mig_profile="1g.5gb")
    assert [i for i in check_rules(cfg) if i.path.startswith("node_pools.gpu[0]")] == []
    assert check_warnings(cfg) == []
    bottlerocket = with_pool(sharing="mig", mig_profile="1g.5gb", ami_type="BOTTLEROCKET_x86_64_NVIDIA")
    (issue,) = [i for i in check_rules(bottlerocket) if i.path.startswith("node_pools.gpu[0]")]
    assert issue.path == "node_pools.gpu[0].sharing" and "Bottlerocket nodes do not use" in issue.message
    assert issue.value == "BOTTLEROCKET_x86_64_NVIDIA" and "AL2023_x86_64_NVIDIA" in issue.fix


def test_bottlerocket_node_groups_pin_their_release_and_no_longer_warn() -> None:
    """tests/foundation/test_bottlerocket_release.py holds the pin itself; here: nothing left to warn about."""
    assert check_warnings(with_pool(ami_type="BOTTLEROCKET_x86_64_NVIDIA")) == []


# ---------------------------------------------------------------- MIG: mig-parted config and the chart
def test_mig_parted_config_is_valid_and_one_config_per_mig_pool() -> None:
    config = mig_parted_config(MIG)
    jsonschema.Draft7Validator(MIG_SCHEMA).validate(config)
    assert set(config["mig-configs"]) == {MIG_DISABLED, "all-1g.10gb"}
    # one profile name, two GPU models, two counts: one entry per model, limited to its device id
    assert config["mig-configs"]["all-1g.10gb"] == [
        {"device-filter": [MIG_DEVICE_IDS[GpuType.A100]], "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.10gb": 4}},
        {"device-filter": [MIG_DEVICE_IDS[GpuType.H100]], "devices": "all", "mig-enabled": True,
         "mig-devices": {"1g.10gb": 7}}]


def test_the_schema_refuses_what_mig_parted_refuses() -> None:
    validator = jsonschema.Draft7Validator(MIG_SCHEMA)
    for bad in ({"version": "v2", "mig-configs": {"x": [{"devices": "all", "mig-enabled": False}]}},
                {"version": "v1", "mig-configs": {"x": []}},
                {"version": "v1", "mig-configs": {"x": [{"devices": "some", "mig-enabled": False}]}},
                {"version": "v1", "mig-configs": {"x": [{"devices": "all", "mig-enabled": True}]}},
                {"version": "v1", "mig-configs": {"x": [{"devices": "all", "mig-enabled": False,
                                                         "mig-devices": {"1g.5gb": 7}}]}}):
        assert list(validator.iter_errors(bad)), bad


@pytest.mark.parametrize("gpu", sorted(MIG_PROFILES))
def test_mig_profile_table_matches_nvidias_default_config(gpu: GpuType) -> None:
    """Every profile the platform accepts for a GPU model is one NVIDIA's default config cuts that model into,
    in the same count per GPU (the table config rules check `mig_profile` against), and the model's device id
    is one NVIDIA's config filters on."""
    assert any(MIG_DEVICE_IDS[gpu] in e.get("device-filter", []) for es in MIG_DEFAULTS.values() for e in es)
    for name, profile in MIG_PROFILES[gpu].items():
        entries = MIG_DEFAULTS[f"all-{name}"]
        (counts,) = [e["mig-devices"] for e in entries
                     if "device-filter" not in e or MIG_DEVICE_IDS[gpu] in e["device-filter"]]
        assert counts == {name: profile.per_gpu}, (gpu, name)


def test_gpu_operator_runs_only_mig_manager() -> None:
    values = gpu_operator_values(MIG, [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    upstream = upstream_values("gpu-operator", CHARTS["gpu-operator"].version)
    # gpu-operator v26.3.3 templates/mig_config.yaml renders migManager.config.data with toYaml
    assert unknown_values(values, upstream, {"migManager.config.data": "the ConfigMap's data"}) == []
    # every operand the chart can enable is off except mig-manager: its `<operand>.enabled` keys upstream
    operands = {k.removesuffix(".enabled") for k in upstream.keys if k.endswith(".enabled") and "." not in
                k.removesuffix(".enabled")} - {"nfd", "psa", "cdi", "sandboxWorkloads", "migManager"}
    assert operands == set(DISABLED_OPERANDS)
    assert values["migManager"]["enabled"] and not values["nfd"]["enabled"]
    config = values["migManager"]["config"]
    assert config["default"] == MIG_DISABLED and config["create"] and config["name"]
    assert json.loads(config["data"]["config.yaml"]) == mig_parted_config(MIG)


def test_device_plugin_and_dcgm_leave_a_node_mig_manager_pauses() -> None:
    """mig-manager labels the GPU clients `paused-for-mig-change` while it repartitions (mig-parted v0.14.2
    reconfigure-mig.sh); the DaemonSets' required node affinity must then exclude the node."""
    pairs = ((device_plugin_values(), DEVICE_PLUGIN_DEPLOY_LABEL), (dcgm_values(), DCGM_EXPORTER_DEPLOY_LABEL))
    for values, label in pairs:
        required = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        terms = required["nodeSelectorTerms"]
        assert {"key": label, "operator": "NotIn", "values": [MIG_PAUSED]} in terms[0]["matchExpressions"]


# ---------------------------------------------------------------- MIG: the planned cluster layer
@pytest.fixture(scope="module")
def mig_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dev with a p4d pool cut into 1g.5gb instances (shipped stacks have no MIG pool)."""
    yaml = YAML(typ="safe", pure=True)
    doc = yaml.load(stack_file_for("dev").read_text(encoding="utf-8"))
    doc["config"]["mlops-platform:node_pools"]["gpu"].append(
        {"name": "mig", "instance_types": ["p4d.24xlarge"], "capacity": "on_demand", "min_size": 0,
         "desired_size": 0, "max_size": 1, "sharing": "mig", "mig_profile": "1g.5gb"})
    doc["config"]["mlops-platform:gpu"]["max_total_gpus"] = 16
    path: Path = tmp_path_factory.mktemp("mig") / "Pulumi.dev.yaml"
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    return path


@pytest.fixture(scope="module")
def mig_plan(mig_stack: Path) -> Plan:
    """Its cluster layer, planned offline."""
    return run_platform(stack_file=mig_stack, layer=Layer.CLUSTER)


def test_a_mig_pool_gets_mig_manager_and_its_device_plugin_config(mig_plan: Plan, mig_stack: Path) -> None:
    operator = helm_values(mig_plan, "gpu-operator")
    configs = json.loads(operator["migManager"]["config"]["data"]["config.yaml"])["mig-configs"]
    assert configs["all-1g.5gb"] == [{"device-filter": ["0x20B010DE"], "devices": "all", "mig-enabled": True,
                                      "mig-devices": {"1g.5gb": 7}}]
    plugin = json.loads(helm_values(mig_plan, "nvidia-device-plugin")["config"]["map"]["pool-mig"])
    assert plugin["flags"]["migStrategy"] == "mixed"
    (release,) = [r for r in mig_plan.of_type("kubernetes:helm.sh/v3:Release") if r.get("name") == "gpu-operator"]
    assert (release.get("chart"), release.get("version")) == ("gpu-operator", CHARTS["gpu-operator"].version)
    assert release.get("namespace") == "nvidia-gpu"
    # what an air-gapped environment vendors and mirrors (programs.common.installed_charts) follows the plan
    planned = {KEYS[r.get("chart")] for r in mig_plan.of_type("kubernetes:helm.sh/v3:Release")}
    assert planned == set(installed_charts(load_stack_file(mig_stack))) and "gpu-operator" in planned


#: What gpu-operator v26.3.3 reads on a node (controllers/state_manager.go: gpuNodeLabels, getGPUNodeOSInfo) and
#: where its validator and mig-manager DaemonSets land (their nodeSelectors), recorded in
#: tests/fixtures/upstream/gpu-operator-v26.3.3-node-labels.json.
OPERATOR_NODE_FACTS = json.loads((UPSTREAM / "gpu-operator-v26.3.3-node-labels.json").read_text(encoding="utf-8"))


def operator_runs_mig_manager_on(labels: dict[str, str]) -> list[str]:
    """What keeps a node's MIG partitioning from happening, as the operator decides it with NFD off:
    `labelGPUNodes` resets `gpu.present` and strips every deploy label from a node without an NFD PCI label
    (and creates no DaemonSet while no node counts as a GPU node), `getGPUNodeOSInfo` fails the reconcile
    without the os_release labels, and the validator (which writes the toolkit-ready file mig-manager's init
    container waits for) and mig-manager only land where their nodeSelectors match."""
    facts = OPERATOR_NODE_FACTS
    problems = []
    if not any(labels.get(k) == v for k, v in facts["gpu_node_labels"].items()):
        problems.append("not counted as a GPU node (no NFD PCI label): deploy labels stripped, no DaemonSets")
    problems += [f"no {key}" for key in facts["os_release_labels"] if key not in labels]
    problems += [f"{ds} not scheduled" for ds, selector in facts["node_selectors"].items()
                 if any(labels.get(k) != v for k, v in selector.items())]
    return problems


def test_mig_nodes_get_the_operators_validator_and_mig_manager(mig_stack: Path) -> None:
    """Review H2: with NFD off, a MIG node must carry what the operator would otherwise learn from NFD; the
    managed node group (planned aws layer) and a Karpenter NodePool carry the same labels."""
    plan = run_platform(stack_file=mig_stack, layer=Layer.AWS)
    (group,) = [r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")
                if str(r.get("nodeGroupNamePrefix")).startswith("mig-")]
    assert operator_runs_mig_manager_on(group.get("labels")) == []
    mig = load_stack_file(mig_stack).node_pools.gpu[-1]
    nodepool_labels = node_pool(mig, "a100")["spec"]["template"]["metadata"]["labels"]
    assert operator_runs_mig_manager_on(nodepool_labels) == []
    # the failure the review found: the labels before this fix leave mig-manager waiting forever
    before = {k: v for k, v in group.get("labels").items() if not k.startswith("feature.node")
              and k != "nvidia.com/gpu.deploy.operator-validator"}
    assert operator_runs_mig_manager_on(before)[0].startswith("not counted as a GPU node")
    # only MIG pools: on a whole-GPU pool the operator deploys nothing (its validator would idle there)
    (whole,) = [r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") if r.get("nodeGroupNamePrefix") == "a10g-"]
    assert not any(k.startswith(OPERATOR_NODE_FACTS["nfd_label_prefix"]) for k in whole.get("labels"))


def test_the_efa_security_group_admits_all_traffic_within_itself_both_ways(plans: Any) -> None:
    """EC2 User Guide, "Get started with EFA and MPI", step "Prepare an EFA-enabled security group": an
    inbound rule allowing all traffic from the security group itself and an outbound rule allowing all
    traffic to it (EFA's OS-bypass traffic fails without both). Nothing else is opened on the group."""
    prod = plans["prod"]
    (group,) = [r for r in prod.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("-efa-sg")]
    rules = [r for kind in ("Ingress", "Egress")
             for r in prod.of_type(f"aws:vpc/securityGroup{kind}Rule:SecurityGroup{kind}Rule")
             if group.urn in r.property_dependencies.get("securityGroupId", ())]
    kinds = sorted(r.type.rsplit(":", 1)[1] for r in rules)
    assert kinds == ["SecurityGroupEgressRule", "SecurityGroupIngressRule"]
    assert all(r.get("ipProtocol") == "-1" and group.urn in r.property_dependencies["referencedSecurityGroupId"]
               for r in rules)
    assert all(not r.get("cidrIpv4") and not r.get("cidrIpv6") for r in rules)


@pytest.mark.parametrize("chart", ["aws-efa-k8s-device-plugin", "gpu-operator"])
def test_the_new_charts_admit_every_supported_kubernetes_minor(chart: str) -> None:
    """Helm refuses a cluster outside a chart's Chart.yaml kubeVersion (gpu-operator v26.3.3: >= 1.16.0-0;
    aws-efa-k8s-device-plugin v0.5.30 declares none)."""
    upstream = upstream_values(chart, CHARTS[chart].version)
    assert all(admits(c, minor) for c in upstream.kube_versions for minor in VERSION_MATRIX)


def _air_gapped_images(release: Any, chart_key: str) -> dict[str, str]:
    """Every image of the chart (core/chart_images.py) as an air-gapped cluster layer would set it."""
    mirror = Mirror("321098765432.dkr.ecr.us-east-1.amazonaws.com", "mlops-dev")
    props = release_props(dict(release.inputs), AirGap(mirror=mirror, chart_directory="/opt/mlplat/charts"))
    out = {}
    for image in CHART_IMAGES[chart_key]:
        entry = props["values"]
        for part in image.path.split("."):
            entry = entry[part]
        out[image.path] = f"{entry['repository']}/{entry['image']}" if "image" in entry else entry["repository"]
    return out


def test_air_gapped_efa_plugin_and_gpu_operator_pull_from_the_accounts_ecr(plans: Any, mig_plan: Plan) -> None:
    """The air-gapped variant (tests/k8s/test_air_gapped.py) runs Karpenter and no MIG pool, so these two
    releases are air-gapped here: every image entry of the chart names the account's ECR."""
    (efa,) = [r for r in plans["prod"].of_type("kubernetes:helm.sh/v3:Release")
              if r.get("chart") == "aws-efa-k8s-device-plugin"]
    (operator,) = [r for r in mig_plan.of_type("kubernetes:helm.sh/v3:Release") if r.get("chart") == "gpu-operator"]
    for release, key in ((efa, "aws-efa-k8s-device-plugin"), (operator, "gpu-operator")):
        refs = _air_gapped_images(release, key)
        assert refs and all(ref.startswith("321098765432.dkr.ecr.us-east-1.amazonaws.com/mlops-dev/mirror/")
                            for ref in refs.values()), refs
    assert _air_gapped_images(operator, "gpu-operator")["migManager"].endswith("/nvidia/cloud-native/k8s-mig-manager")
