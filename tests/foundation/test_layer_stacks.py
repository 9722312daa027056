"""Each environment is three Pulumi stacks (aws, cluster, tenants) linked by StackReferences (issue #9).

Facts a mock cannot see, encoded against the planned graphs of the real programs:
- a budget change plans differently only in the aws layer (it never needs the Kubernetes API);
- a chart bump plans differently only in the cluster layer (it never touches the VPC);
- every Kubernetes provider reads the cluster endpoint through the aws layer's stack, which publishes it
  only once every deployer's access entry is associated;
- the layer Pulumi projects share the environment's stack file and the platform program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.config import repo_root, stack_file_for
from mlops_platform.core import versions
from mlops_platform.core.layers import LAYER_DIRS, LAYER_ORDER, LAYER_PROJECTS, Layer, layers_for
from mlops_platform.engine import Plan, run_platform
from mlops_platform.engine.cache import CACHE_ENV
from mlops_platform.engine.runner import read_yaml_mapping
from ruamel.yaml import YAML

STACK_REFERENCE = "pulumi:pulumi:StackReference"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def project_of(urn: str) -> str:
    return urn.split("::")[1]


def layer_variant(tmp_path: Path, edit: Callable[[dict[str, Any]], None], env: str = "dev") -> Path:
    """The shipped stack file of `env` with `edit` applied to its `config` mapping."""
    yaml = YAML()
    doc = yaml.load(stack_file_for(env).read_text())
    edit(doc["config"])
    out = tmp_path / f"Pulumi.{env}.yaml"
    with out.open("w") as fh:
        yaml.dump(doc, fh)
    return out


def changed_projects(before: Plan, after: Plan) -> set[str]:
    """Pulumi projects (so layer stacks) in which any resource was added, removed or changed."""
    old = {r.urn: r.inputs for r in before.resources}
    new = {r.urn: r.inputs for r in after.resources}
    return {project_of(u) for u in old.keys() ^ new.keys()} | {project_of(u) for u in old.keys() & new.keys()
                                                                 if old[u] != new[u]}


def test_layer_projects_share_the_program_and_the_stack_file() -> None:
    root = repo_root()
    for layer in LAYER_ORDER:
        manifest = read_yaml_mapping(root / LAYER_DIRS[layer] / "Pulumi.yaml")
        base = (root / LAYER_DIRS[layer]).resolve()
        assert manifest["name"] == LAYER_PROJECTS[layer]
        assert (base / manifest["main"]).resolve() == (root / "platform").resolve()
        assert (base / manifest["stackConfigDir"]).resolve() == (root / "stacks").resolve()
        assert (base / manifest["runtime"]["options"]["virtualenv"]).resolve() == (root / ".venv").resolve()
    # project stacks read the whole outputs contract from the top layer under the historical name
    assert LAYER_PROJECTS[Layer.TENANTS] == "mlops-platform"


def test_layers_apply_in_order_and_destroy_in_reverse() -> None:
    assert layers_for(None) == (Layer.AWS, Layer.CLUSTER, Layer.TENANTS)
    assert layers_for(None, reverse=True) == (Layer.TENANTS, Layer.CLUSTER, Layer.AWS)
    assert layers_for(Layer.CLUSTER, reverse=True) == (Layer.CLUSTER,)


def test_each_layer_holds_only_its_own_kind_of_resource(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    by_layer: dict[str, set[str]] = {}
    for r in plan.resources:
        by_layer.setdefault(project_of(r.urn), set()).add(r.type)
    aws, cluster, tenants = (by_layer[LAYER_PROJECTS[lay]] for lay in LAYER_ORDER)
    assert not any(t.startswith("kubernetes:") for t in aws)  # the aws layer never needs the API
    assert STACK_REFERENCE not in aws
    assert {"aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:budgets/budget:Budget"} <= aws
    for upper in (cluster, tenants):  # no network, control plane or environment budget above the aws layer
        assert not upper & {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:eks/cluster:Cluster",
                            "aws:eks/nodeGroup:NodeGroup", "aws:kms/key:Key"}
        assert STACK_REFERENCE in upper and K8S_PROVIDER in upper
    assert "mlops:k8s:ProjectTenant" in tenants and "mlops:k8s:ProjectTenant" not in cluster


def test_kubernetes_providers_read_the_endpoint_through_the_aws_layer_stack(plans: dict[str, Plan]) -> None:
    """The aws layer exports `cluster_endpoint` only once every deployer's access association exists
    (programs.aws_program.after), so a provider built from it cannot run before cluster access exists.
    https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html"""
    plan = plans["dev"]
    refs = {r.urn: r for r in plan.of_type(STACK_REFERENCE)}
    providers = plan.of_type(K8S_PROVIDER)
    assert len(providers) == 2  # one per in-cluster layer
    for provider in providers:
        deps = set(provider.property_dependencies.get("kubeconfig", ()))
        aws_refs = {u for u in deps if u in refs and refs[u].get("name", "").endswith("/mlops-platform-aws/dev")}
        assert aws_refs, provider.urn
        assert project_of(next(iter(aws_refs))) == project_of(provider.urn)


def test_stack_references_name_the_lower_layers_of_the_same_environment(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    names = {(project_of(r.urn), r.get("name")) for r in plan.of_type(STACK_REFERENCE)}
    assert names == {("mlops-platform-cluster", "organization/mlops-platform-aws/dev"),
                     ("mlops-platform", "organization/mlops-platform-aws/dev"),
                     ("mlops-platform", "organization/mlops-platform-cluster/dev")}


def test_all_layers_plan_as_the_union_of_each_layer_and_export_the_contract(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    layers = [run_platform(env="dev", layer=lay) for lay in LAYER_ORDER]
    assert sorted(r.urn for p in layers for r in p.resources) == sorted(r.urn for r in plan.resources)
    assert plan.outputs == layers[-1].outputs
    assert {"cluster_endpoint", "mlflow_url", "projects"} <= set(plan.outputs)


@pytest.mark.slow
def test_a_budget_change_plans_differently_only_in_the_aws_layer(plans: dict[str, Plan], tmp_path: Path) -> None:
    def raise_budget(config: dict[str, Any]) -> None:
        config["mlops-platform:budget"]["monthly_usd"] = 7000

    after = run_platform(stack_file=layer_variant(tmp_path, raise_budget))
    assert changed_projects(plans["dev"], after) == {"mlops-platform-aws"}


@pytest.mark.slow
def test_a_chart_bump_plans_differently_only_in_the_cluster_layer(plans: dict[str, Plan],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    before = plans["dev"]  # planned (or read from the run's cache) before the bump: the fixture is lazy
    chart = versions.CHARTS["kube-prometheus-stack"]
    monkeypatch.setenv(CACHE_ENV, "off")  # the plan cache keys on files; this bump lives in memory only
    monkeypatch.setitem(versions.CHARTS, "kube-prometheus-stack", dataclasses.replace(chart, version="99.0.0"))
    after = run_platform(env="dev")
    assert changed_projects(before, after) == {"mlops-platform-cluster"}


def test_one_project_plans_only_that_tenant() -> None:
    plan = run_platform(env="dev", project="churn-model")
    tenants = [r for r in plan.resources if r.type == "mlops:k8s:ProjectTenant"]
    assert [r.name for r in tenants] == ["dev-tenants-project-churn-model"]
    assert {project_of(r.urn) for r in plan.resources} == {"mlops-platform"}
    assert not [r for r in plan.resources if "fraud-detector" in r.name]
    assert list(plan.outputs["projects"]) == ["churn-model"]


def test_the_tenants_layer_re_exports_plain_fields_plain_and_keeps_secrets_secret(plans: dict[str, Plan]) -> None:
    """A StackReference's `outputs` is one Output, secret once any output of the lower stack is (the cluster
    layer's `tracking_logins`; Pulumi docs, "Stack references": outputs keep their secretness). The tenants layer
    unsecrets the contract's plain fields and keeps its secrets secret. The offline engine hands a lower
    stack's secret outputs over marked secret, as the real engine does (engine/recorder.py)."""
    from mlops_platform.core import contract
    from mlops_platform.engine.recorder import SECRET
    from mlops_platform.k8s.tenancy import TRACKING_SECRET

    plan = plans["dev"]
    public = [k for k in contract.ClusterLayerOutputs.model_fields if k not in contract.CLUSTER_LAYER_PRIVATE]
    assert public and all(plan.outputs[k] != SECRET for k in public)
    assert plan.outputs["mlflow_url"].startswith("http://mlflow.")
    assert all(plan.outputs[k] != SECRET for k in contract.AwsLayerOutputs.model_fields if k in plan.outputs)
    logins = [r for r in plan.of_type("kubernetes:core/v1:Secret")
              if r.get("metadata", {}).get("name") == TRACKING_SECRET]
    assert logins and all(r.get("stringData") == SECRET for r in logins)  # each project's password stays secret
