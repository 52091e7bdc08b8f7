"""The caches inside a run's stages: parsed YAML by content (:mod:`gitopsgen.validate.parsecache`) and
schema results by object (:mod:`gitopsgen.validate.schemastage`). A cached parse must be the parse; a
cached schema result must be the result; broken entries are misses; the prune removes dead writes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gitopsgen.validate.load import Limits, load_file, load_repository
from gitopsgen.validate.model import Manifest
from gitopsgen.validate.parsecache import KIND as PARSE
from gitopsgen.validate.parsecache import ParseCache
from gitopsgen.validate.resultcache import ResultCache
from gitopsgen.validate.schemas import SchemaStore
from gitopsgen.validate.schemastage import KIND as SCHEMA
from gitopsgen.validate.schemastage import SchemaChecks

TEXT = """\
# a comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: prefect
data:
  key: value
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: "two"
"""


def entries(cache: ResultCache, kind: str) -> list[Path]:
    assert cache.directory is not None
    return sorted((cache.directory / kind).rglob("*.json"))


def as_tuples(documents: list[Any]) -> list[tuple[Any, ...]]:
    return [(d.file, d.index, d.line, d.data, d.lines) for d in documents]


def test_a_cached_parse_is_the_parse_under_any_name(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "a").mkdir(parents=True)
    (root / "a/one.yaml").write_text(TEXT)
    (root / "a/two.yaml").write_text(TEXT)
    (root / "broken.yaml").write_text("key: [unclosed\n")
    cache = ResultCache(tmp_path / "cache")
    plain = load_repository(root)
    first = load_repository(root, parses=ParseCache(cache, Limits()))
    assert cache.counts["writes"] == 2  # one entry per distinct content (the broken file's findings too)
    again = ResultCache(tmp_path / "cache")
    second = load_repository(root, parses=ParseCache(again, Limits()))
    assert again.counts["hits"] == 3 and again.counts["writes"] == 0
    for loaded in (first, second):
        assert loaded.findings == plain.findings  # Y001 of broken.yaml, at its own file and line
        for name, lf in plain.files.items():
            assert as_tuples(loaded.files[name].documents) == as_tuples(lf.documents)
            assert loaded.files[name].text == lf.text
    assert {d.file for d in second.documents} == {"a/one.yaml", "a/two.yaml"}


def test_a_parse_json_cannot_give_back_is_not_stored(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "dated.yaml").write_text("when: 2026-11-23\n1: one\n")  # a date and an integer key
    cache = ResultCache(tmp_path / "cache")
    loaded, _ = load_file(root, "dated.yaml", parses=ParseCache(cache, Limits()))
    assert loaded is not None and cache.counts["writes"] == 0 and entries(cache, PARSE) == []
    assert list(loaded.documents[0].data) == ["when", 1]


@pytest.mark.parametrize(
    "value",
    [
        "text",
        [[["x"]], []],
        [[[0, "1", {}, []]], []],
        [[[0, 1, {}, [[["a"], "1"]]]], []],
        [[], [[1, "Y001", "m", "fatal", 0]]],
        [[], [[1, 2, "m", "error", 0]]],
    ],
)
def test_a_parse_entry_of_the_wrong_shape_is_a_miss(tmp_path: Path, value: Any) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "f.yaml").write_text(TEXT)
    cache = ResultCache(tmp_path / "cache")
    parses = ParseCache(cache, Limits())
    raw = (root / "f.yaml").read_bytes()
    cache.put(PARSE, parses._key(raw), value)
    assert parses.get(raw, "f.yaml") is None
    loaded, _ = load_file(root, "f.yaml", parses=parses)
    assert loaded is not None and [d.data["kind"] for d in loaded.documents] == ["ConfigMap", "Deployment"]


class CountingStore(SchemaStore):
    """A real schema store that counts the objects it validates."""

    def __init__(self) -> None:
        super().__init__("1.33")
        self.checked = 0

    def check(self, obj: dict[str, Any]) -> list[Any]:
        self.checked += 1
        return super().check(obj)


def manifests() -> list[Manifest]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "prefect"},
        "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {}}},
    }
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    lines = {("spec", "replicas"): 7}
    return [
        Manifest(deployment, "c1", "d.yaml", 1, lines),
        Manifest(dict(deployment), "c2", "d.yaml", 1, lines),  # the same content in another cluster
        Manifest(config, "c1", "c.yaml", 1),
        Manifest({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}, "c1", "k.yaml", 1),
    ]


def test_schema_results_are_kept_across_runs(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    store = CountingStore()
    first = SchemaChecks(store, cache)
    count, findings = first.check(manifests())
    assert count == 3 and store.checked == 2  # the kustomization is no object; the copy is checked once
    where = {(f.cluster, f.file, f.line, f.rule) for f in findings}
    assert ("c1", "d.yaml", 7, "K001") in where and ("c2", "d.yaml", 7, "K001") in where  # replicas: "two"
    assert {w[1:] for w in where if w[0] == "c1" and w[1] == "d.yaml"} == {w[1:] for w in where if w[0] == "c2"}
    first.save()
    assert len(entries(cache, SCHEMA)) == 1
    again = CountingStore()
    second = SchemaChecks(again, ResultCache(tmp_path / "cache"))
    assert second.check(manifests()) == (count, findings) and again.checked == 0
    other = CountingStore()
    other.add_crd(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {}}}],
            },
        },
        "widget.yaml",
    )
    SchemaChecks(other, ResultCache(tmp_path / "cache")).check(manifests())
    assert other.checked == 2  # other schemas: other results


def test_a_broken_schema_map_is_recomputed(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    first = SchemaChecks(CountingStore(), cache)
    expected = first.check(manifests())
    first.save()
    (path,) = entries(cache, SCHEMA)
    entry = json.loads(path.read_text())
    entry["value"] = {k: [["K001", "not a path", 5]] for k in entry["value"]}
    path.write_text(json.dumps(entry))
    store = CountingStore()
    assert SchemaChecks(store, ResultCache(tmp_path / "cache")).check(manifests()) == expected
    assert store.checked == 2


def test_without_a_cache_every_run_checks(tmp_path: Path) -> None:
    store = CountingStore()
    checks = SchemaChecks(store, ResultCache(None))
    checks.check(manifests())
    checks.save()
    assert store.checked == 2 and not (tmp_path / "cache").exists()


def test_prune_removes_writes_killed_before_their_rename(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    cache.put("cluster", "ab" * 32, {"x": 1})
    assert cache.directory is not None
    folder = cache.directory / "cluster" / "ab"
    old, new = folder / ".tmp-old", folder / ".tmp-new"
    old.write_text("{")
    new.write_text("{")
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    cache.prune()
    assert not old.exists() and new.exists()  # a recent one may be a write in progress
    assert cache.get("cluster", "ab" * 32) == {"x": 1}


def test_entries_are_read_only_as_regular_files(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    assert cache.directory is not None
    key_link, key_fifo, key_big = "aa" * 32, "ab" * 32, "ac" * 32
    for key in (key_link, key_fifo, key_big):
        (cache.directory / "k" / key[:2]).mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/zero", cache.directory / "k" / "aa" / f"{key_link}.json")  # would never end
    os.mkfifo(cache.directory / "k" / "ab" / f"{key_fifo}.json")  # would block
    with (cache.directory / "k" / "ac" / f"{key_big}.json").open("wb") as f:
        f.truncate(300 * 1024 * 1024)  # sparse, above the bound
    assert cache.get("k", key_link) is None and cache.get("k", key_fifo) is None and cache.get("k", key_big) is None
    cache.put("k", key_link, [1])
    assert cache.get("k", key_link) == [1]  # the entry replaced the link


def test_a_value_json_cannot_hold_is_not_stored(tmp_path: Path) -> None:
    import datetime

    cache = ResultCache(tmp_path / "cache")
    cache.put("k", "ad" * 32, {"namespace": datetime.date(2024, 1, 1)})  # an ImagePolicy namespace: 2024-01-01
    assert cache.get("k", "ad" * 32) is None and cache.counts["writes"] == 0


def test_every_rule_module_says_its_scope() -> None:
    from gitopsgen.validate import catalogue, rules

    scopes = {m.__name__.rsplit(".", 1)[1][:4]: m.SCOPE for m in catalogue.RULE_MODULES}
    assert {k for k, v in scopes.items() if v == rules.REPOSITORY} == {"f007", "g001", "s001", "s002", "s007"}
    assert set(scopes.values()) == {rules.CLUSTER, rules.REPOSITORY}
    every = len(catalogue.checks())
    assert len(catalogue.checks(rules.CLUSTER)) + len(catalogue.checks(rules.REPOSITORY)) == every


def test_fingerprints_never_leave_the_repository(tmp_path: Path) -> None:
    from gitopsgen.validate.fingerprint import Fingerprints
    from gitopsgen.validate.inputs import Inputs

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("a: 1\n")
    root = (tmp_path / "repo").resolve()
    (root / "charts/app/templates").mkdir(parents=True)
    (root / "common/templates").mkdir(parents=True)
    (root / "common/templates/t.yaml").write_text("x: 1\n")
    os.symlink("../../common", root / "charts/app/common")  # a chart's symlinked directory inside the repository
    os.symlink(str(outside), root / "charts/escape")
    prints = Fingerprints(root)
    assert prints.tree("../outside") == [] and prints.tree("charts/escape") == []
    assert prints.file("charts/escape/secret.yaml") == "outside"
    assert "common/templates/t.yaml" in prints.tree("charts/app")
    before = prints.of_inputs(Inputs(trees={"charts/app", "../outside", "charts/escape"}))
    (outside / "secret.yaml").write_text("a: 2\n")
    (root / "common/templates/t.yaml").write_text("x: 2\n")
    after = Fingerprints(root).of_inputs(Inputs(trees={"charts/app", "../outside", "charts/escape"}))
    assert before != after  # the target inside the repository counts ...
    (root / "common/templates/t.yaml").write_text("x: 1\n")
    assert Fingerprints(root).of_inputs(Inputs(trees={"charts/app", "../outside", "charts/escape"})) == before
