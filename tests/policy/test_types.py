"""Type tokens and input names are exactly what the installed providers register with the engine."""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache

import pytest
from mlops_platform.policy import all_specs
from mlops_platform.policy.sdk import types as t
from policy_plans import variant

AWS_TOKENS = sorted({v for k, v in vars(t).items() if k.isupper() and isinstance(v, str) and v.startswith("aws:")}
                    | {ty for s in all_specs() for ty in s.resource_types if ty.startswith("aws:")} | set(t.TAGGABLE))


@cache
def aws_class(token: str) -> type:
    """`aws:eks/nodeGroup:NodeGroup` → pulumi_aws.eks.NodeGroup (its source holds the token)."""
    module, _, cls = token.removeprefix("aws:").rpartition(":")
    mod = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    return getattr(mod, cls)


@cache
def input_names(token: str) -> set[str]:
    """camelCase input names of a resource, from its Args class getters."""
    cls = aws_class(token)
    module = importlib.import_module(cls.__module__)
    # the SDK names it <Name>InitArgs when <Name>Args is taken by a nested type
    args = getattr(module, f"{cls.__name__}InitArgs", None) or getattr(module, f"{cls.__name__}Args")
    src = inspect.getsource(args)
    renamed = re.findall(r'@pulumi\.getter\(name="(\w+)"\)', src)
    return set(renamed) | set(re.findall(r"@pulumi\.getter\n\s+def (\w+)", src))


@pytest.mark.parametrize("token", AWS_TOKENS)
def test_aws_type_tokens_exist(token: str) -> None:
    assert f"'{token}'" in inspect.getsource(aws_class(token)), token


@pytest.mark.parametrize("token", sorted(t.TAGGABLE))
def test_taggable_types_take_tags(token: str) -> None:
    assert "tags" in input_names(token)


def test_reference_stack_uses_real_input_names() -> None:
    for r in variant()["resources"]:
        if r["type"].startswith("aws:"):
            unknown = set(r["inputs"]) - input_names(r["type"])
            assert not unknown, (r["type"], unknown)


@pytest.mark.parametrize("token", [t.K8S_DEPLOYMENT, t.K8S_STATEFULSET, t.K8S_DAEMONSET, t.K8S_JOB, t.K8S_CRONJOB,
                                   t.K8S_POD, t.K8S_SERVICE, t.K8S_NAMESPACE, t.K8S_SERVICE_ACCOUNT, t.K8S_PDB,
                                   t.K8S_NETWORK_POLICY, t.HELM_RELEASE])
def test_kubernetes_type_tokens_exist(token: str) -> None:
    group_version, kind = token.removeprefix("kubernetes:").rsplit(":", 1)
    group, version = group_version.rsplit("/", 1)
    package = {"core": "core", "apps": "apps", "batch": "batch", "policy": "policy", "helm.sh": "helm",
               "networking.k8s.io": "networking"}[group]
    mod = importlib.import_module(f"pulumi_kubernetes.{package}.{version}.{kind}")
    assert f"'{token}'" in inspect.getsource(mod)


def test_custom_resources_register_as_api_version_and_kind() -> None:
    from pulumi_kubernetes.apiextensions import CustomResource

    assert 'f"kubernetes:{api_version}:{kind}"' in inspect.getsource(CustomResource)
    assert t.KSERVE_INFERENCE_SERVICE == "kubernetes:serving.kserve.io/v1beta1:InferenceService"
