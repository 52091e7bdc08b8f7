"""Repository files → YAML documents with a line for every path inside them (stage 1).

Files are found under the repository root without following symlinks out of it, read as strict UTF-8
and parsed from libyaml's event stream by a small iterative builder of our own, which gives us what
``yaml.safe_load`` cannot: the line of every key and list item, duplicate keys as findings, and hard
bounds on size, nesting depth and alias expansion (a "billion laughs" document is a finding, not a
hang). Problems become findings (Y001 to Y004); nothing here raises on any input bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..yamlio import PYYAML_NESTING_LIMIT, SAFE_LOADER
from .findings import Finding, Rule, Severity
from .model import Document, JsonPath
from .rawfile import DEFAULT_LIMITS, Y001, Y003, Limits, read_text

if TYPE_CHECKING:
    from .parsecache import ParseCache

Y002 = Rule(
    "Y002",
    "duplicate-key",
    "yaml",
    Severity.ERROR,
    "A mapping has the same key twice.",
    "YAML forbids duplicate keys; PyYAML silently keeps the last one, while kustomize (kyaml) and the Kubernetes "
    "API server's strict decoding reject the document. Either way the file does not say what its author meant. "
    "The finding points at the second occurrence and names the line of the first.",
)
Y004 = Rule(
    "Y004",
    "path-outside-repository",
    "yaml",
    Severity.ERROR,
    "A symlink in the repository points outside it.",
    "A symlink whose target lies outside the repository root makes the build depend on the machine it runs on, "
    "and in a merge request from a fork it is a way to read files of the CI runner. The validator never follows "
    "such links: the link is reported and its target is not read. Flux's own source controllers refuse them "
    "as well.",
)


YAML_SUFFIXES = (".yaml", ".yml")
# version control, tools, and the caches CI jobs keep in the checkout
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".cache", ".gitlab-ci-local"}
_IGNORE = re.compile(r"#\s*gitopsgen:\s*ignore(-file)?=([A-Za-z0-9_,\s]+)")


@dataclass
class LoadedFile:
    """One YAML file: its text (for comment-level rules) and its documents."""

    path: str
    text: str
    documents: list[Document] = field(default_factory=list)


@dataclass
class Loaded:
    files: dict[str, LoadedFile] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def documents(self) -> list[Document]:
        return [d for f in self.files.values() for d in f.documents]


def is_ignored(rel: str, patterns: tuple[str, ...]) -> bool:
    """Whether a repository-relative path matches an ignore glob (``dir/**``, ``*.tmpl.yaml``, a plain prefix)."""
    for pattern in patterns:
        p = pattern.rstrip("/")
        if fnmatch(rel, p) or rel == p or rel.startswith(p + "/") or fnmatch(rel, p + "/*"):
            return True
    return False


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (after resolving every symlink) lies inside ``root`` (already resolved)."""
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def discover(root: Path, ignore: tuple[str, ...] = ()) -> tuple[list[str], list[Finding]]:
    """Repository-relative paths of the YAML files under ``root``; symlinks leaving it become findings. A
    chart's ``templates/`` (beside a ``Chart.yaml``) is left out: Go templates, not YAML, rendered by the
    Helm stage when a HelmRelease names the chart."""
    found: list[str] = []
    findings: list[Finding] = []
    for current, dirs, files in os.walk(root, followlinks=False):
        here = Path(current)
        rel_dir = here.relative_to(root).as_posix()
        chart = "Chart.yaml" in files
        kept = []
        for d in sorted(dirs):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d in SKIP_DIRS or is_ignored(rel, ignore) or (chart and d == "templates"):
                continue
            if (here / d).is_symlink():
                if not inside(root, here / d):
                    findings.append(Finding(rel, 0, Y004.id, f"symlink {rel} points outside the repository; not read"))
                continue  # never walk into linked directories: their files are reached through their real path
            kept.append(d)
        dirs[:] = kept
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not name.endswith(YAML_SUFFIXES) or is_ignored(rel, ignore):
                continue
            if (here / name).is_symlink() and not inside(root, here / name):
                findings.append(Finding(rel, 0, Y004.id, f"symlink {rel} points outside the repository; not read"))
                continue
            found.append(rel)
    return found, findings


def load_repository(
    root: Path, ignore: tuple[str, ...] = (), limits: Limits = DEFAULT_LIMITS, parses: ParseCache | None = None
) -> Loaded:
    """Every YAML file under ``root``, parsed (``parses``: earlier parses by content); unparseable ones
    become findings."""
    root = root.resolve()
    paths, findings = discover(root, ignore)
    out = Loaded(findings=findings)
    for rel in paths:
        loaded, problems = load_file(root, rel, limits, parses)
        out.findings += problems
        if loaded is not None:
            out.files[rel] = loaded
    return out


def load_file(
    root: Path, rel: str, limits: Limits = DEFAULT_LIMITS, parses: ParseCache | None = None
) -> tuple[LoadedFile | None, list[Finding]]:
    raw, text, problem = read_text(root, rel, limits)
    if problem is not None:
        return None, [problem]
    cached = parses.get(raw, rel) if parses is not None else None
    if cached is not None:
        return LoadedFile(rel, text, cached[0]), cached[1]
    documents, findings = parse_documents(text, rel, limits)
    if parses is not None:
        parses.put(raw, documents, findings)
    return LoadedFile(rel, text, documents), findings


def inline_ignores(text: str) -> tuple[dict[int, set[str]], set[str]]:
    """``# gitopsgen: ignore=ID[,ID]`` per line (it covers its own line and, on a comment-only line, the next),
    and ``# gitopsgen: ignore-file=ID`` for the whole file."""
    per_line: dict[int, set[str]] = {}
    whole: set[str] = set()
    if "gitopsgen:" not in text:
        return per_line, whole
    for number, line in enumerate(text.splitlines(), start=1):
        m = _IGNORE.search(line)
        if not m:
            continue
        ids = {i.strip().upper() for i in m.group(2).split(",") if i.strip()}
        if m.group(1):
            whole |= ids
            continue
        per_line.setdefault(number, set()).update(ids)
        if line.lstrip().startswith("#"):
            per_line.setdefault(number + 1, set()).update(ids)
    return per_line, whole


# ---------------------------------------------------------------- the document builder


class _Bound(Exception):
    def __init__(self, message: str, line: int, rule: Rule = Y003, depth: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.rule = rule
        self.depth = depth  # the depth bound (which PyYAML's own scanner bound may report again later)


_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()
_MERGE = "tag:yaml.org,2002:merge"


# the base class is chosen when PyYAML loads (libyaml's or the pure-Python loader): mypy cannot follow it
class KubeLoader(SAFE_LOADER):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader reading YAML as Kubernetes (and kustomize, go-yaml) does: a timestamp stays a
    string (the API server decodes YAML as JSON) and a bare ``=`` is the string "=" (YAML 1.1's ``value``
    tag, which PyYAML resolves but cannot construct; kustomize writes it unquoted)."""


def _plain(loader: yaml.BaseLoader, node: yaml.Node) -> Any:
    return node.value


KubeLoader.add_constructor("tag:yaml.org,2002:value", _plain)
KubeLoader.add_constructor("tag:yaml.org,2002:timestamp", _plain)


def _scalar(event: yaml.ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        # types-PyYAML leaves Resolver.resolve unannotated
        tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:timestamp":
        return event.value  # Kubernetes decodes YAML as JSON: timestamps stay strings
    if tag == _MERGE:
        return _MergeKey()
    # libyaml's events carry yaml._yaml.Mark, which types-PyYAML does not accept for a node (only positions are read)
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)  # type: ignore[arg-type]
    builder = _constructor.yaml_constructors.get(tag)
    if builder is None:
        return event.value  # an unknown local tag: keep the text, as a JSON decoder of YAML would
    try:
        return builder(_constructor, node)
    except (yaml.YAMLError, ValueError, TypeError):
        return event.value


class _MergeKey:
    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MergeKey)


@dataclass
class _Frame:
    value: dict[Any, Any] | list[Any]
    path: JsonPath
    anchor: str | None
    line: int
    size: int = 1
    key: Any = None
    has_key: bool = False
    key_line: int = 0
    key_lines: dict[Any, int] = field(default_factory=dict)
    merges: list[dict[Any, Any]] = field(default_factory=list)


def parse_documents(text: str, rel: str, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Document], list[Finding]]:
    """Every document of one YAML text, with path→line maps; problems become findings."""
    documents: list[Document] = []
    findings: list[Finding] = []
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    lines: dict[JsonPath, int] = {}
    doc_line = 1
    total = 0
    root_value: Any = None
    skip_document = False
    depth_reported = False

    def place(value: Any, size: int, line: int) -> None:
        nonlocal root_value, total
        total += size
        if total > limits.max_nodes:
            raise _Bound(f"document expands to more than {limits.max_nodes} nodes (alias bomb?); not parsed", line)
        if not stack:
            root_value = value
            return
        top = stack[-1]
        top.size += size
        if isinstance(top.value, list):
            lines[(*top.path, len(top.value))] = line
            top.value.append(value)
            return
        if not top.has_key:
            if isinstance(value, (dict, list)):
                raise _Bound("a mapping or sequence used as a key is not supported by Kubernetes", line, Y001)
            top.key, top.has_key, top.key_line = value, True, line
            return
        key, top.has_key = top.key, False
        if isinstance(key, _MergeKey):
            sources = value if isinstance(value, list) else [value]
            top.merges += [s for s in sources if isinstance(s, dict)]
            return
        if key in top.key_lines:
            findings.append(
                Finding(
                    rel,
                    top.key_line,
                    Y002.id,
                    f"duplicate key {key!r} (first at line {top.key_lines[key]})",
                )
            )
        top.key_lines[key] = top.key_line
        lines[(*top.path, _path_key(key))] = top.key_line
        top.value[key] = value

    events = yaml.parse(text, Loader=SAFE_LOADER)
    try:
        for event in events:
            line = (event.start_mark.line + 1) if event.start_mark else 0
            if isinstance(event, yaml.DocumentStartEvent):
                anchors, lines, total, root_value, skip_document = {}, {}, 0, None, False
                doc_line = line
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                if not skip_document and root_value is not None:
                    documents.append(Document(rel, len(documents), doc_line, root_value, lines))
                continue
            if skip_document or isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent)):
                continue
            try:
                if isinstance(event, yaml.ScalarEvent):
                    value = _scalar(event)
                    if event.anchor:
                        anchors[event.anchor] = (value, 1)
                    if root_value is None and not stack:
                        doc_line = line
                    place(value, 1, line)
                elif isinstance(event, yaml.AliasEvent):
                    if event.anchor not in anchors:
                        raise _Bound(f"found undefined alias *{event.anchor}", line, Y001)
                    value, size = anchors[event.anchor]
                    place(value, size, line)
                elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    if len(stack) >= limits.max_depth:
                        raise _Bound(f"nesting deeper than {limits.max_depth} levels; not parsed", line, depth=True)
                    if not stack:
                        doc_line = line
                    path = _child_path(stack)
                    container: dict[Any, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
                    stack.append(_Frame(container, path, event.anchor, line))
                elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                    frame = stack.pop()
                    if isinstance(frame.value, dict) and frame.merges:
                        for source in frame.merges:
                            for k, v in source.items():
                                frame.value.setdefault(k, v)
                    if frame.anchor:
                        anchors[frame.anchor] = (frame.value, frame.size)
                    total -= frame.size - 1  # children were counted as they were placed
                    place(frame.value, frame.size, frame.line)
            except _Bound as exc:
                findings.append(Finding(rel, exc.line, exc.rule.id, str(exc)))
                skip_document, stack = True, []
                depth_reported = depth_reported or exc.depth
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if PYYAML_NESTING_LIMIT in str(problem):
            # PyYAML >= 6.0.3 bounds nesting in its scanner, which reads ahead of the events: the same fact as
            # gitopsgen's depth bound, reported as Y003 once (not again when the bound already stopped the document)
            if not depth_reported:
                message = f"nesting deeper than {limits.max_depth} levels; not parsed"
                findings.append(Finding(rel, (mark.line + 1) if mark else 0, Y003.id, message))
            return documents, findings
        message = f"{context}, {problem}" if context else str(problem)
        findings.append(
            Finding(
                rel,
                (mark.line + 1) if mark else 0,
                Y001.id,
                message,
                column=(mark.column + 1) if mark else 0,
            )
        )
    except RecursionError:
        findings.append(Finding(rel, 0, Y003.id, "nesting too deep to parse"))
    return documents, findings


def _child_path(stack: list[_Frame]) -> JsonPath:
    if not stack:
        return ()
    top = stack[-1]
    if isinstance(top.value, list):
        return (*top.path, len(top.value))
    if top.has_key:
        return (*top.path, _path_key(top.key))
    return (*top.path, "<key>")


def _path_key(key: Any) -> str | int:
    return key if isinstance(key, str) else str(key)


def objects(documents: list[Document]) -> Iterator[Document]:
    """The documents that are Kubernetes objects (mappings with apiVersion and kind)."""
    return (d for d in documents if d.is_object)
