"""Every namespace a platform component uses is reserved: a project named like one would get its tenancy
(quota, network policy, CI rights) in that component's namespace, and the tenants layer would try to create
a namespace the cluster layer owns."""

from __future__ import annotations

import importlib
import pkgutil

import mlops_platform.k8s as components
from mlops_platform.config.rules import RESERVED_NAMESPACES


def component_namespaces() -> dict[str, str]:
    """`module.CONSTANT -> namespace` for every `*_NAMESPACE` string constant of the k8s components."""
    found = {}
    for info in pkgutil.iter_modules(components.__path__):
        module = importlib.import_module(f"{components.__name__}.{info.name}")
        for attr, value in vars(module).items():
            if attr.endswith("NAMESPACE") and isinstance(value, str):
                found[f"{info.name}.{attr}"] = value
    return found


def test_every_component_namespace_is_reserved() -> None:
    found = component_namespaces()
    assert {"pipelines.PIPELINES_NAMESPACE", "delivery_stack.KEDA_NAMESPACE"} <= set(found)  # the scan sees them
    missing = {where: ns for where, ns in found.items() if ns not in RESERVED_NAMESPACES}
    assert not missing, f"add to config.rules.RESERVED_NAMESPACES: {missing}"
