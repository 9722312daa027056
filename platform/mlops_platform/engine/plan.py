"""A recorded plan: every registration of one program run, and its stack outputs.

`Plan.to_json()` is the contract later layers, reviews and tests use:
`{"stack", "resources": [{"urn","type","name","parent","dependencies","inputs","custom","provider",
"propertyDependencies", ...}], "outputs"}`. `provider` is the engine's `urn::id` reference of the
resource's explicit provider (policies read e.g. its defaultTags), or null.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_platform.engine.recorder import RecordingMonitor


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    custom: bool = True
    protect: bool = False
    retain_on_delete: bool = False
    provider: str | None = None  # `urn::id` of the explicit provider
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[dict[str, Any], ...] = ()  # where a moved resource was before ({"spec": {"parentUrn": ...}})

    def to_json(self) -> dict[str, Any]:
        out = {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
               "dependencies": sorted(self.dependencies), "inputs": self.inputs, "custom": self.custom,
               "protect": self.protect, "retainOnDelete": self.retain_on_delete, "provider": self.provider,
               "propertyDependencies": {k: sorted(v) for k, v in sorted(self.property_dependencies.items())}}
        return out | {"aliases": list(self.aliases)} if self.aliases else out  # only moved resources carry it

    def get(self, dotted: str, default: Any = None) -> Any:
        """Input at a dotted path (`vpcConfig.endpointPrivateAccess`, `taints.0.key`)."""
        node: Any = self.inputs
        for part in dotted.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return default
        return node


@dataclass
class Plan:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Outputs with secrets revealed, for the StackReferences of the layers above only (see recorder).
    reference_outputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: One row per program run that made this plan: {"layer", "stack", "projects", "resources", "seconds"}.
    timings: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)
    #: Whether the plan was read from the plan cache (its timings are then those of the run that stored it).
    cached: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_monitor(cls, stack: str, monitor: RecordingMonitor) -> Plan:
        # Registrations arrive from worker threads in any order: sort so plans are reproducible.
        resources = [Resource(r.urn, r.type, r.name, r.parent, tuple(sorted(set(r.dependencies))), r.inputs,
                              r.custom, r.protect, r.retain_on_delete, r.provider or None,
                              {k: tuple(sorted(set(v))) for k, v in r.property_dependencies.items() if v},
                              tuple(r.aliases))
                     for r in sorted(monitor.registrations, key=lambda reg: reg.urn)]
        return cls(stack, resources, dict(monitor.stack_outputs), dict(monitor.reference_outputs))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        resources = [Resource(r["urn"], r["type"], r["name"], r.get("parent"), tuple(r.get("dependencies", ())),
                              r.get("inputs", {}), r.get("custom", True), r.get("protect", False),
                              r.get("retainOnDelete", False), r.get("provider"),
                              {k: tuple(v) for k, v in (r.get("propertyDependencies") or {}).items()},
                              tuple(r.get("aliases", ())))
                     for r in data["resources"]]
        return cls(data["stack"], resources, data.get("outputs", {}))

    def to_json(self) -> dict[str, Any]:
        resources = sorted(self.resources, key=lambda r: r.urn)
        return {"stack": self.stack, "resources": [r.to_json() for r in resources], "outputs": self.outputs}

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def children(self) -> dict[str | None, list[Resource]]:
        known = {r.urn for r in self.resources}
        tree: dict[str | None, list[Resource]] = defaultdict(list)
        for r in self.resources:
            tree[r.parent if r.parent in known else None].append(r)
        return tree

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources if r.custom)

    def custom_resources(self) -> Iterable[Resource]:
        return (r for r in self.resources if r.custom)
