"""F004 depends-on-cycle: Kustomizations or HelmReleases that depend on each other in a circle."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, Rule, Severity
from ..model import Context, Manifest
from . import finding_at
from .f003_depends_on_missing import dependencies

SCOPE = "cluster"  # see rules/__init__.py
RULE = Rule(
    "F004",
    "depends-on-cycle",
    "flux",
    Severity.ERROR,
    "Flux Kustomizations or HelmReleases depend on each other in a cycle.",
    "When A depends on B and B (directly or through others) depends on A, none of them ever becomes ready: each "
    "waits for the other. The finding is reported once per set of objects caught in cycles, at the dependsOn "
    "entry of the first of them in name order that points into the set, and names them all.",
)


Node = tuple[str, str, str]  # kind, namespace, name


def components(edges: dict[Node, list[Node]]) -> list[list[Node]]:
    """Strongly connected components (Tarjan, iterative), each sorted; only those that form a cycle."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    on_stack: set[Node] = set()
    stack: list[Node] = []
    out: list[list[Node]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, []):
                    out.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def check(ctx: Context) -> Iterator[Finding]:
    for cluster in ctx.clusters:
        nodes: dict[Node, Manifest] = {}
        for m in cluster.manifests:
            nodes.setdefault((m.kind, m.namespace, m.name), m)
        entries: dict[Node, list[tuple[int, Node]]] = {
            key: [(i, (m.kind, ns, name)) for i, ns, name in dependencies(m) if (m.kind, ns, name) in nodes]
            for key, m in nodes.items()
        }
        edges = {key: [target for _, target in targets] for key, targets in entries.items()}
        for component in components(edges):
            first = component[0]
            members = set(component)
            entry = next(i for i, target in entries[first] if target in members)
            names = " ↔ ".join(f"{ns}/{name}" for _, ns, name in component)
            message = f"dependsOn cycle between {nodes[first].kind}s {names}: none of them becomes ready"
            yield finding_at(RULE, nodes[first], message, "spec", "dependsOn", entry)
