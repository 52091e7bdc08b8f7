"""The package's shape, checked from its source: no import circle, no module over 500 lines, and the two
halves kept apart (the generator never imports the validator; the validator reaches the generator only
to check drift, G001).

The import graph is read with :mod:`ast` (no import is executed): every ``import`` and ``from … import``
of a module counts, also those inside functions and under ``TYPE_CHECKING`` — a circle hidden in a
function is still a circle in the design. ``from package import name`` is an edge to the submodule
``package.name`` when there is one, else to ``package``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gitopsgen"
MAX_LINES = 500

# modules allowed over the limit while a split is under way: each entry must still be over it (so the list
# shrinks as splits land), and no module may join it
PENDING_SPLIT: set[str] = set()

# the validator and diff halves, and what may import them besides themselves (commands and docs)
VALIDATOR = ("gitopsgen.validate", "gitopsgen.diff")
VALIDATOR_USERS = ("gitopsgen.cli", "gitopsgen.docs", "gitopsgen.doctor", "gitopsgen.__main__")
# leaves both halves share (one implementation each); everything else outside the validator is the generator
SHARED = ("gitopsgen.errors", "gitopsgen.semver", "gitopsgen.yamlio", "gitopsgen.atomicfile", "gitopsgen.mergemaps")
SHARED += ("gitopsgen.publish.git",)
# the validator's imports of the generator, each with its reason
GENERATOR_USES = {
    "gitopsgen.validate.rules.g001_generated_drift": "G001 renders the intent to compare it with the tree",
    "gitopsgen.validate.chartvalues": "the write commands' check of the intent's chart values takes the "
    "generator's ReleaseValues",
}


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    out: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.c`` of a non-module attribute path
                target = target.rpartition(".")[0]
            if target.startswith("gitopsgen") and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    modules = module_names()
    known = set(modules)
    return {name: imports(name, path, known) for name, path in modules.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_walker_sees_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    assert circles(graph()) == []


def test_no_module_over_the_limit() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in module_names().items()}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert sorted(set(over) - PENDING_SPLIT) == [], {n: over[n] for n in sorted(set(over) - PENDING_SPLIT)}
    # a module of the pending list that was split or removed leaves it
    assert sorted(PENDING_SPLIT - set(over)) == []


def test_generator_does_not_import_the_validator() -> None:
    wrong = sorted(
        (name, target)
        for name, targets in graph().items()
        if not under(name, VALIDATOR + VALIDATOR_USERS)
        for target in targets
        if under(target, VALIDATOR)
    )
    assert wrong == []


def test_validator_reaches_the_generator_only_for_drift() -> None:
    wrong = sorted(
        (name, target)
        for name, targets in graph().items()
        if under(name, VALIDATOR) and name not in GENERATOR_USES
        for target in targets
        if not under(target, VALIDATOR + SHARED) and target != "gitopsgen"
    )
    assert wrong == []


def test_the_catalogue_lists_every_rule() -> None:
    """A rule declared in any validator module, and every module of ``rules/``, is in the catalogue (nothing
    registers itself: an unlisted rule would be neither run nor documented)."""
    import importlib

    from gitopsgen.validate import catalogue
    from gitopsgen.validate.findings import Rule

    declared: dict[str, str] = {}
    for name in module_names():
        if not under(name, ("gitopsgen.validate",)):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, Rule) and catalogue.RULES.get(value.id) is not value:
                declared[value.id] = name
    assert declared == {}, "declared but not in gitopsgen/validate/catalogue.py"
    rule_modules = {n for n in module_names() if n.startswith("gitopsgen.validate.rules.") and "._" not in n}
    assert rule_modules == {m.__name__ for m in catalogue.RULE_MODULES}
