"""One component convention: every ComponentResource of the platform takes `(name, args, opts)`, its args are
a frozen keyword-only dataclass, and every field is documented with its default (or says it is required).
No exceptions: `ModelServing`, the component generated projects call, follows it too (its provider is an
args field; `mlplat fleet update` brings existing projects' `infra/` programs along).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import pkgutil
import textwrap

import pulumi
import pytest
from mlops_platform import aws, k8s, programs
from mlops_platform.core import contract
from mlops_platform.k8s.tenancy import TenantOutputs


def _components() -> list[type[pulumi.ComponentResource]]:
    found = []
    for package in (aws, k8s, programs):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                      if issubclass(c, pulumi.ComponentResource) and c.__module__ == module.__name__]
    return found


COMPONENTS = _components()


def _args_type(component: type) -> type:
    hints = inspect.signature(component.__init__).parameters
    assert list(hints) == ["self", "name", "args", "opts"], component.__name__
    module = importlib.import_module(component.__module__)
    return getattr(module, str(hints["args"].annotation))


def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings: the string literal right after each annotated field."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = str(after.value.value)  # type: ignore[union-attr]
    return docs


def test_the_platform_has_its_components() -> None:
    names = {c.__name__ for c in COMPONENTS}
    assert {"Cluster", "ClusterAddons", "NodePools", "Tracking", "ProjectTenant", "ClusterLayer",
            "ModelServing"} <= names


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
def test_args_are_frozen_keyword_only_documented_dataclasses(component: type) -> None:
    args = _args_type(component)
    assert dataclasses.is_dataclass(args), args
    params = args.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen, args
    assert all(f.kw_only for f in dataclasses.fields(args)), args
    docs = _field_docs(args)
    for f in dataclasses.fields(args):
        doc = docs.get(f.name, "")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        assert ("Required." in doc) if required else ("Default:" in doc), f"{args.__name__}.{f.name}: {doc!r}"


def test_tenant_outputs_are_the_contracts_project_output() -> None:
    assert {f.name for f in dataclasses.fields(TenantOutputs)} == set(contract.ProjectOutput.model_fields)
