"""What a policy sees: one resource (`Res`) or the whole stack, indexed once per run (`StackView`).

Stack policies must find companion resources (the `BucketVersioning` of a bucket, the ServiceAccount
of a role). They do it through `StackView.resolve`: by the referenced value when it is known, and by
the dependency graph when it is not (during preview a new bucket's id is unknown, yet the companion
still depends on the bucket). Every lookup is a dict hit on an index built once per policy run, so a
stack policy costs O(resources), never O(resources²).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.policy.sdk.values import UNKNOWN, dig, plain

Keys = Callable[["Res"], Iterable[Any]]


@dataclass
class Res:
    """One resource: type, names and plain properties (`UNKNOWN` where the engine has no value yet)."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    parent: str | None = None
    deps: tuple[str, ...] = ()
    prop_deps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    provider: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        return dig(self.props, path)


class StackView:
    """Every resource of the stack, converted lazily per type and indexed once."""

    def __init__(self, resources: Sequence[Any]) -> None:
        self._raw: dict[str, list[Any]] = defaultdict(list)
        for r in resources:
            self._raw[r.resource_type].append(r)
        self._converted: dict[str, list[Res]] = {}
        self._by_urn: dict[str, Res] = {}
        self._indexes: dict[tuple[tuple[str, ...], str], dict[Any, list[Res]]] = {}

    def of_type(self, *types: str) -> list[Res]:
        out: list[Res] = []
        for t in types:
            if t not in self._converted:
                self._converted[t] = [self._convert(r) for r in self._raw.get(t, ())]
            out.extend(self._converted[t])
        return out

    def _convert(self, r: Any) -> Res:
        res = Res(r.urn, r.resource_type, r.name, plain(r.props),
                  parent=r.parent.urn if r.parent is not None else None,
                  deps=tuple(d.urn for d in r.dependencies),
                  prop_deps={k: tuple(d.urn for d in v) for k, v in r.property_dependencies.items()},
                  provider=plain(r.provider.props) if getattr(r, "provider", None) is not None else {})
        self._by_urn[res.urn] = res
        return res

    def get(self, urn: str, *types: str) -> Res | None:
        """A resource by URN, among the given types (converting them if needed)."""
        self.of_type(*types)
        found = self._by_urn.get(urn)
        return found if found is not None and found.type in types else None

    def index(self, types: tuple[str, ...], name: str, keys: Keys) -> dict[Any, list[Res]]:
        """`key -> resources` over the given types, built once per (types, name)."""
        cache_key = (types, name)
        if cache_key not in self._indexes:
            idx: dict[Any, list[Res]] = defaultdict(list)
            for res in self.of_type(*types):
                for k in {k for k in keys(res) if isinstance(k, str | int | float) and k != ""}:
                    idx[k].append(res)
            self._indexes[cache_key] = idx
        return self._indexes[cache_key]

    def resolve(self, res: Res, prop: str, types: tuple[str, ...], keys: Keys, name: str = "",
                normalize: Callable[[Any], Any] = lambda v: v) -> list[Res]:
        """Resources of `types` that `res.prop` refers to.

        Known value → the resources whose keys contain it (an external bucket name resolves to nothing).
        Unknown value → the resources of `types` that the engine recorded as dependencies of that
        property (or of the resource, when per-property dependencies are not available).
        """
        value = res.get(prop)
        if value is not UNKNOWN and value is not None:
            return list(self.index(types, name or prop, keys).get(normalize(value), ()))
        if value is None:
            return []
        return self.dependencies(res, types, prop)

    def dependencies(self, res: Res, types: tuple[str, ...], prop: str | None = None) -> list[Res]:
        urns = res.prop_deps.get(prop, ()) if prop and prop in res.prop_deps else res.deps
        found = (self.get(u, *types) for u in urns)
        return [r for r in found if r is not None]

    def referrers(self, referrer_types: tuple[str, ...], prop: str, types: tuple[str, ...],
                  keys: Keys, normalize: Callable[[Any], Any] = lambda v: v) -> Referrers:
        """For every resource of `types`, the resources of `referrer_types` whose `prop` points at it."""
        found: dict[str, list[Res]] = defaultdict(list)
        unresolved: list[Res] = []
        for ref in self.of_type(*referrer_types):
            targets = self.resolve(ref, prop, types, keys, name=f"referrers:{prop}", normalize=normalize)
            for target in targets:
                found[target.urn].append(ref)
            if not targets and ref.get(prop) is UNKNOWN:
                unresolved.append(ref)
        return Referrers(found, unresolved)

    def types(self) -> set[str]:
        return set(self._raw)


@dataclass(frozen=True)
class Referrers:
    """Companions per target URN, plus companions whose (unknown) reference could not be resolved."""

    by_target: dict[str, list[Res]]
    unresolved: list[Res]

    def of(self, target: Res) -> list[Res]:
        return self.by_target.get(target.urn, [])
