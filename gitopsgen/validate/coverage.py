"""What no cluster's Flux applies: the directories no cluster reaches (F006, not built), the files checked on
their own when the repository has no cluster at all, and the lines saying where each cluster starts."""

from __future__ import annotations

from pathlib import Path

from .findings import Finding, Rule, Severity
from .kustomize import B001, build, kustomization_file, rel
from .model import Manifest
from .repository import Repository

NO_ENTRY = (
    "no cluster found: no flux-system GitRepository/OCIRepository + Kustomization pair, FluxInstance sync or "
    "{dir}/<name>/ directory, so every file was checked on its own and nothing was built; name where Flux starts "
    "with --entry PATH (a directory or the file of its root Kustomization or FluxInstance) or 'entries:' in "
    ".gitopsgen.yaml"
)


def entry_lines(repo: Repository, names: list[str]) -> list[str]:
    """One line per cluster validated: its name and the entry it starts from (how to name one when none)."""
    if not repo.entries:
        return [NO_ENTRY.format(dir=repo.clusters_dir)]
    return [f"cluster {repo.entries[n].describe()}" for n in names]


F006 = Rule(
    "F006",
    "not-applied-by-any-cluster",
    "flux",
    Severity.INFO,
    "Manifests or kustomizations that no cluster's Flux applies: not checked.",
    "Where the repository has clusters (see 'How clusters are found'), only what their Flux Kustomizations "
    "apply is built and checked, as Flux would: a kustomize Component is built inside the Kustomizations that "
    "use it, and directories no cluster reaches (bootstrap manifests applied by hand or by another tool, "
    "templates, examples) are not built, so they raise no error. This finding lists them, one per directory, "
    "so that a directory a cluster was meant to apply is noticed. Name another entry with --entry (or "
    "'entries:' in the configuration) to validate what applies them.",
)


def unreached(repo: Repository, applied: set[str], reached: set[str], referenced: set[str]) -> list[Finding]:
    """F006: the directories of kustomizations and manifests no cluster reaches (``applied``: the files the
    clusters' objects came from), not built."""
    covered = applied | referenced
    kustomizations: dict[str, int] = {}
    manifests: dict[str, int] = {}
    first: dict[str, str] = {}  # directory → its first such file (where the finding points)
    for file, lf in sorted(repo.loaded.files.items()):
        directory = str(Path(file).parent)
        if directory in reached or any(directory.startswith(r + "/") for r in reached if r != "."):
            continue
        if Path(file).name in ("kustomization.yaml", "kustomization.yml"):
            kustomizations[directory] = kustomizations.get(directory, 0) + 1
        elif file not in covered and any(d.is_object for d in lf.documents):
            manifests[directory] = manifests.get(directory, 0) + 1
        else:
            continue
        first.setdefault(directory, file)
    dirs = sorted(set(kustomizations) | set(manifests))
    tops = [d for d in dirs if not any(t != d and (t == "." or d.startswith(t + "/")) for t in dirs)]
    findings: list[Finding] = []
    for top in tops:
        below = [d for d in dirs if d == top or top == "." or d.startswith(top + "/")]
        k = sum(kustomizations.get(d, 0) for d in below)
        m = sum(manifests.get(d, 0) for d in below)
        parts = [f"{n} {word}{'s' if n > 1 else ''}" for n, word in ((k, "kustomization"), (m, "manifest file")) if n]
        where = "the repository root" if top == "." else f"{top}/"
        message = f"{' and '.join(parts)} under {where} applied by no cluster: not built or checked"
        findings.append(Finding(min(first[d] for d in below), 0, F006.id, message, F006.severity))
    return findings


def standalone(
    repo: Repository, applied: set[str], reached: set[str], referenced: set[str]
) -> tuple[list[Manifest], list[Finding]]:
    """Kustomization directories and manifests when the repository has no cluster: built or checked on their
    own (``applied``: the files the clusters' objects came from)."""
    findings: list[Finding] = []
    manifests: list[Manifest] = []
    scanner = repo.scanner
    dirs = sorted(
        {str(Path(f).parent) for f in repo.loaded.files if Path(f).name in ("kustomization.yaml", "kustomization.yml")}
    )
    for d in dirs:
        if d in reached or any(d.startswith(r + "/") for r in reached if r != "."):
            continue
        target = repo.root / d
        scan = scanner.scan(target)
        reached |= scan.reached
        referenced |= scan.files
        findings += scan.findings
        if scan.blocked:
            continue
        built = build(repo.root, [target], command=repo.command)
        if built.error:
            k = kustomization_file(target)
            findings.append(Finding(rel(repo.root, k) if k else d, 1, B001.id, built.error))
            continue
        for obj, origin in built.objects:
            doc = repo.match_document(origin, obj) if origin else None
            manifests.append(Manifest(obj, "", origin or d, doc.line if doc else 1, doc.lines if doc else {}))
    covered = applied | {m.file for m in manifests} | referenced
    for file, lf in repo.loaded.files.items():
        if file in covered or Path(file).name in ("kustomization.yaml", "kustomization.yml"):
            continue
        for document in lf.documents:
            if document.is_object:
                manifests.append(Manifest(document.data, "", document.file, document.line, document.lines))
    return manifests, findings
