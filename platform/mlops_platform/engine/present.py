"""Human views of a plan: a resource tree with counts, key security settings, and graphs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from mlops_platform.engine.plan import Plan, Resource


def short_type(type_: str) -> str:
    """`aws:eks/cluster:Cluster` → `eks:Cluster`; components keep their own token."""
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[1].split('/')[0]}:{parts[2]}"
    return type_


def resource_tree(plan: Plan) -> Tree:
    children = plan.children()
    custom = sum(1 for _ in plan.custom_resources())
    root = Tree(f"[bold]{plan.stack}[/] — {custom} resources, {len(plan.resources) - custom} components")
    for top in children[None]:
        _add(root, top, children)
    return root


def _add(node: Tree, res: Resource, children: dict[str | None, list[Resource]]) -> None:
    kids = children.get(res.urn, [])
    if res.custom:
        node.add(f"{short_type(res.type)} [dim]{res.name}[/]")
        return
    counts = Counter(short_type(k.type) for k in kids if k.custom)
    summary = ", ".join(f"{n}× {t}" for t, n in sorted(counts.items()))
    branch = node.add(f"[bold cyan]{res.name}[/] [dim]({res.type})[/] {summary}")
    for kid in kids:
        if not kid.custom:
            _add(branch, kid, children)


def security_rows(plan: Plan) -> list[tuple[str, str, str]]:
    """(setting, resource, value) for the settings a reviewer looks at first."""
    rows: list[tuple[str, str, str]] = []
    for c in plan.of_type("aws:eks/cluster:Cluster"):
        rows.append(("EKS public endpoint", c.name, str(c.get("vpcConfig.endpointPublicAccess"))))
        rows.append(("EKS secrets encryption", c.name, ",".join(c.get("encryptionConfig.resources", []))))
        rows.append(("EKS control-plane logs", c.name, ",".join(c.get("enabledClusterLogTypes", []))))
        rows.append(("EKS deletion protection", c.name, str(c.get("deletionProtection"))))
    for lt in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        hops = _num(lt.get("metadataOptions.httpPutResponseHopLimit"))
        rows.append(("IMDSv2 / hop limit", lt.name, f"{lt.get('metadataOptions.httpTokens')} / {hops}"))
    for ng in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        taints = ",".join(f"{t.get('key')}={t.get('value')}:{t.get('effect')}" for t in ng.get("taints", []) or [])
        sc = ng.get("scalingConfig", {})
        rows.append(("Node pool", ng.name, f"{ng.get('amiType')} {ng.get('capacityType')} "
                     f"min {_num(sc.get('minSize'))}/max {_num(sc.get('maxSize'))} taints [{taints or '-'}]"))
    for key in plan.of_type("aws:kms/key:Key"):
        rows.append(("KMS rotation", key.name, str(key.get("enableKeyRotation"))))
    for repo in plan.of_type("aws:ecr/repository:Repository"):
        rows.append(("ECR immutable/scan", repo.name,
                     f"{repo.get('imageTagMutability')} / {repo.get('imageScanningConfiguration.scanOnPush')}"))
    protected = sum(1 for r in plan.resources if r.protect)
    rows.append(("Protected resources", "-", str(protected)))
    return rows


def _num(value: object) -> str:
    """The wire format carries ints as floats; show 2, not 2.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def security_table(plan: Plan) -> Table:
    table = Table(title="Key security settings", show_lines=False)
    for col in ("setting", "resource", "value"):
        table.add_column(col)
    for row in security_rows(plan):
        table.add_row(*(escape(cell) for cell in row))
    return table


def outputs_table(plan: Plan) -> Table:
    table = Table(title="Stack outputs")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key in sorted(plan.outputs):
        value = plan.outputs[key]
        text = value if isinstance(value, str) else _compact(value)
        table.add_row(key, escape(text))
    return table


def _compact(value: object) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def _component_of(res: Resource, by_urn: dict[str, Resource]) -> Resource | None:
    """The top-most component above a resource (the unit a platform diagram shows)."""
    top: Resource | None = None
    node: Resource | None = res
    while node is not None:
        if not node.custom:
            top = node
        node = by_urn.get(node.parent) if node.parent else None
    return top


def component_edges(plan: Plan) -> tuple[list[Resource], set[tuple[str, str]]]:
    by_urn = plan.by_urn()
    # Registration order varies from run to run (async outputs); sort so pictures are reproducible.
    tops = sorted((r for r in plan.resources if not r.custom and r.parent not in by_urn), key=lambda r: r.name)
    owner = {r.urn: _component_of(r, by_urn) for r in plan.resources}
    edges: set[tuple[str, str]] = set()
    for res in plan.resources:
        src = owner.get(res.urn)
        for dep in res.dependencies:
            dst = owner.get(dep)
            if src and dst and src.urn != dst.urn:
                edges.add((src.urn, dst.urn))
    return tops, edges


def _ident(urn: str, index: dict[str, int]) -> str:
    return f"n{index[urn]}"


def graph(plan: Plan, fmt: str = "mermaid") -> str:
    tops, edges = component_edges(plan)
    index = {r.urn: i for i, r in enumerate(tops)}
    children = plan.children()
    labels = {r.urn: f"{r.name}\\n{_count(children, r)} resources" for r in tops}
    pairs = sorted((index[a], index[b]) for a, b in edges if a in index and b in index)
    if fmt == "dot":
        lines = ["digraph platform {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
        lines += [f'  n{index[r.urn]} [label="{labels[r.urn]}"];' for r in tops]
        lines += [f"  n{a} -> n{b};" for a, b in pairs]
        return "\n".join([*lines, "}"])
    lines = ["flowchart LR"]
    lines += [f'  n{index[r.urn]}["{labels[r.urn].replace(chr(92) + "n", "<br/>")}"]' for r in tops]
    lines += [f"  n{a} --> n{b}" for a, b in pairs]
    return "\n".join(lines)


def _count(children: dict[str | None, list[Resource]], res: Resource) -> int:
    total = 0
    stack: list[Resource] = list(children.get(res.urn, []))
    while stack:
        node = stack.pop()
        total += node.custom
        stack.extend(children.get(node.urn, []))
    return total


def type_summary(resources: Iterable[Resource]) -> Counter[str]:
    return Counter(short_type(r.type) for r in resources if r.custom)


def timings_table(plan: Plan) -> Table:
    """One row per program run that made the plan (layer, stack, projects, resources, seconds, CPU seconds)."""
    title = "Program runs" + (" (read from the plan cache: times of the run that stored it)" if plan.cached else "")
    table = Table(title=title)
    for column in ("layer", "stack", "projects", "resources", "seconds", "CPU seconds"):
        table.add_column(column)
    for row in plan.timings:
        cpu = row.get("cpu_seconds")  # absent from plans cached before runs recorded it
        table.add_row(row["layer"], row["stack"], "-" if row["projects"] is None else str(row["projects"]),
                      str(row["resources"]), f"{row['seconds']:.1f}", "-" if cpu is None else f"{cpu:.1f}")
    return table
