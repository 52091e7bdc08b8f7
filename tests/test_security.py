"""Issue 17: an untrusted merge request can neither pass the gate, nor hide from review, nor hurt the runner.

One regression test per finding of the review: each reproduces the attack on a small repository and
asserts the secure outcome (the gate still fails the broken change, review still shows it, nothing
outside the repository or the cache is touched, the report is written). The input-map property test
records the files the real kustomize reads (under strace) and checks that a random edit of any of them
changes the cluster's cache key. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import shared
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.fingerprint import Fingerprints
from gitopsgen.validate.inputs import cluster_inputs
from gitopsgen.validate.kustomize import kustomize_command
from gitopsgen.validate.load import load_repository
from gitopsgen.validate.repository import Repository

needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")), reason="needs kustomize or kubectl on PATH"
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own GITOPSGEN_CACHE_DIR."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(path))
    monkeypatch.delenv("GITOPSGEN_CACHE_SECRET", raising=False)
    return path


def make(root: Path, files: dict[str, object]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, list):
            path.write_text(yaml.safe_dump_all(content, sort_keys=False))
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False))
    return root


def found(result: engine.Result, rule: str) -> set[tuple[str, int]]:
    return {(f.file, f.line) for f in result.findings if f.rule == rule}


def deployment(name: str = "app", **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27.0", **container}]},
            },
        },
    }


def crd(group: str, kind: str, plural: str) -> dict[str, Any]:
    """A CRD that accepts anything: what an attacker commits to switch a kind's checks off."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


# ---------------------------------------------------------------- 1: schema precedence


def test_1_a_repository_crd_cannot_redefine_a_builtin_kind(tmp_path: Path) -> None:
    broken = deployment()
    broken["spec"]["replicass"] = 3  # a misspelt field: K001 for the built-in Deployment
    root = make(
        tmp_path, {"clusters/c1/app.yaml": broken, "clusters/c1/crd.yaml": crd("apps", "Deployment", "deployments")}
    )
    result = engine.validate(root, Settings(cache=False))
    assert any(f.rule == "K001" and "replicass" in f.message for f in result.findings), result.findings
    assert found(result, "K006") == {("clusters/c1/crd.yaml", 6)}
    assert result.exit_code == 1


def test_1_a_repository_crd_cannot_replace_one_given_with_crds(tmp_path: Path) -> None:
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": "default"},
        "spec": {"interval": "1h", "url": "https://charts.example.com", "timout": "1m"},
    }
    root = make(
        tmp_path,
        {
            "clusters/c1/repo.yaml": repo,
            "clusters/c1/crd.yaml": crd("source.toolkit.fluxcd.io", "HelmRepository", "helmrepositories"),
        },
    )
    result = engine.validate(root, Settings(crds=(shared("flux-crds"),), cache=False))
    assert any(f.rule == "K002" and "timout" in f.message for f in result.findings), result.findings
    assert found(result, "K007") == {("clusters/c1/crd.yaml", 6)}
    assert result.exit_code == 1


# ---------------------------------------------------------------- 2: builtin plugin config inputs

PLUGIN_FLEET: dict[str, object] = {
    "clusters/c1/apps.yaml": {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
    },
    "apps/kustomization.yaml": {"resources": ["app.yaml"], "transformers": ["patcher.yaml"]},
    "apps/app.yaml": deployment(),
    "apps/patcher.yaml": {
        "apiVersion": "builtin",
        "kind": "PatchTransformer",
        "metadata": {"name": "harden"},
        "path": "../patches/security.yaml",
        "target": {"kind": "Deployment"},
    },
    "patches/security.yaml": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "securityContext": {"privileged": False}}]}}},
    },
}


@needs_kustomize
@pytest.mark.slow
def test_2_a_file_named_only_by_a_builtin_plugin_config_is_an_input(tmp_path: Path) -> None:
    root = make(tmp_path / "repo", PLUGIN_FLEET)
    settings = Settings()
    cold = engine.validate(root, settings)
    assert not [f for f in cold.findings if f.severity == "error"], cold.findings
    patch = root / "patches/security.yaml"
    patch.write_text(patch.read_text().replace("privileged: false", "privileged: 'yes'"))
    # the static input map (diff, --changed-since) sees the change
    repo = Repository(root.resolve(), load_repository(root.resolve()), kustomize_command())
    assert cluster_inputs(repo, "c1").touched_by(["patches/security.yaml"]) == ["patches/security.yaml"]
    # the warm run is not answered from the cache of the clean tree: kustomize applies the patch
    warm = engine.validate(root, settings)
    assert warm.stats["clusters_cached"] == 0
    assert any(f.rule == "K001" and f.object == "Deployment default/app" for f in warm.findings), warm.findings
    assert warm.exit_code == 1


@needs_kustomize
@pytest.mark.slow
def test_2_diff_and_changed_since_see_a_change_named_only_by_a_plugin_config(tmp_path: Path) -> None:
    import dataclasses

    import git

    from gitopsgen.diff import rendered_diff

    root = make(tmp_path / "repo", PLUGIN_FLEET)
    repo = git.Repo.init(root)
    repo.index.add([str(p.relative_to(root)) for p in root.rglob("*.yaml") if ".git" not in p.parts])
    actor = git.Actor("t", "t@example.invalid")
    repo.index.commit("base", author=actor, committer=actor)
    patch = root / "patches/security.yaml"
    patch.write_text(patch.read_text().replace("privileged: false", "privileged: true"))
    report = rendered_diff(root, "HEAD", Settings(cache=False))
    [c1] = report.clusters
    assert c1.status == "changed" and c1.inputs == ["patches/security.yaml"], c1
    assert any("+" in ln and "privileged: true" in ln for o in c1.objects for ln in o.diff), c1.objects
    changed = engine.validate(root, dataclasses.replace(Settings(cache=False), changed_since="HEAD"))
    assert changed.clusters == ["c1"]


@pytest.mark.parametrize(
    ("config", "read"),
    [
        ({"kind": "PatchJson6902Transformer", "path": "../p/ops.yaml"}, "p/ops.yaml"),
        ({"kind": "PatchStrategicMergeTransformer", "paths": ["../p/smp.yaml"]}, "p/smp.yaml"),
        ({"kind": "ConfigMapGenerator", "files": ["key=../p/file.txt"]}, "p/file.txt"),
        ({"kind": "SecretGenerator", "envs": ["../p/secret.env"]}, "p/secret.env"),
        ({"kind": "ReplacementTransformer", "replacements": [{"path": "../p/repl.yaml"}]}, "p/repl.yaml"),
    ],
)
def test_2_every_builtin_plugin_config_path_is_an_input(tmp_path: Path, config: dict[str, Any], read: str) -> None:
    files = {**PLUGIN_FLEET, "apps/patcher.yaml": {"apiVersion": "builtin", "metadata": {"name": "x"}, **config}}
    files[read] = "a: 1\n"
    root = make(tmp_path, files).resolve()
    repo = Repository(root, load_repository(root), kustomize_command())
    inputs = cluster_inputs(repo, "c1")
    assert not inputs.everything, inputs.why
    assert inputs.touched_by([read]) == [read]
    # the same config given inline in the kustomization
    inline = {
        "resources": ["app.yaml"],
        "transformers": [yaml.safe_dump(yaml.safe_load((root / "apps/patcher.yaml").read_text()))],
    }
    (root / "apps/kustomization.yaml").write_text(yaml.safe_dump(inline))
    (root / "apps/patcher.yaml").unlink()
    repo = Repository(root, load_repository(root), kustomize_command())
    assert cluster_inputs(repo, "c1").touched_by([read]) == [read]


def test_2_a_plugin_config_reading_outside_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("host secret\n")
    files = {**PLUGIN_FLEET}
    files["apps/patcher.yaml"] = {
        "apiVersion": "builtin",
        "kind": "ConfigMapGenerator",
        "metadata": {"name": "leak", "namespace": "default"},
        "files": [f"leak={outside}"],
    }
    root = make(tmp_path / "repo", files)
    result = engine.validate(root, Settings(cache=False))
    assert any(f.rule == "B002" and "outside the repository" in f.message for f in result.findings), result.findings
    assert not any("host secret" in f.message for f in result.findings)


def test_2_a_directory_of_plugin_configs_makes_every_file_an_input(tmp_path: Path) -> None:
    files = {**PLUGIN_FLEET, "apps/kustomization.yaml": {"resources": ["app.yaml"], "transformers": ["../gen"]}}
    files["gen/kustomization.yaml"] = {"resources": ["patcher.yaml"]}
    files["gen/patcher.yaml"] = PLUGIN_FLEET["apps/patcher.yaml"]
    root = make(tmp_path, files).resolve()
    repo = Repository(root, load_repository(root), kustomize_command())
    inputs = cluster_inputs(repo, "c1")
    assert inputs.everything and "plugin configs" in inputs.why


# ---------------------------------------------------------------- the input-map property

INPUT_FLEET: dict[str, object] = {
    **PLUGIN_FLEET,
    "apps/kustomization.yaml": {
        "resources": ["app.yaml", "../shared-base"],
        "components": ["../components/extra"],
        "transformers": ["patcher.yaml", "smp.yaml"],
        "generators": ["gen.yaml"],
        "patches": [{"path": "patch-inline-listed.yaml"}],
        "configMapGenerator": [{"name": "listed", "namespace": "default", "files": ["listed.txt"]}],
        "replacements": [{"path": "replacement.yaml"}],
    },
    "apps/smp.yaml": {
        "apiVersion": "builtin",
        "kind": "PatchStrategicMergeTransformer",
        "metadata": {"name": "smp"},
        "paths": ["../patches/smp.yaml"],
    },
    "apps/gen.yaml": {
        "apiVersion": "builtin",
        "kind": "ConfigMapGenerator",
        "metadata": {"name": "generated", "namespace": "default"},
        "files": ["conf=../data/conf.txt"],
        "envs": ["../data/vars.env"],
    },
    "apps/patch-inline-listed.yaml": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"replicas": 2},
    },
    "apps/listed.txt": "listed\n",
    "apps/replacement.yaml": [
        {
            "source": {"kind": "ConfigMap", "name": "listed", "fieldPath": "metadata.name"},
            "targets": [
                {
                    "select": {"kind": "Deployment"},
                    "fieldPaths": ["metadata.annotations.from"],
                    "options": {"create": True},
                }
            ],
        }
    ],
    "patches/smp.yaml": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"template": {"metadata": {"annotations": {"smp": "yes"}}}},
    },
    "data/conf.txt": "conf\n",
    "data/vars.env": "A=1\n",
    "shared-base/kustomization.yaml": {"resources": ["cm.yaml"]},
    "shared-base/cm.yaml": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "base", "namespace": "default"},
    },
    "components/extra/kustomization.yaml": {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [{"path": "patch.yaml"}],
    },
    "components/extra/patch.yaml": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "base", "namespace": "default"},
        "data": {"extra": "1"},
    },
    "unrelated/notes.yaml": {"a": 1},
}


def kustomize_reads(root: Path, target: Path) -> set[str]:
    """Repository files the real kustomize opens while building ``target``, recorded with strace."""
    log = root.parent / "strace.log"
    command = [*kustomize_command(), str(target)]
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=openat,open", "-o", str(log), *command],
        capture_output=True,
        text=True,
        timeout=600,  # strace slows kubectl down a lot on a loaded machine
    )
    assert proc.returncode == 0, proc.stderr
    reads = set()
    for m in re.finditer(r'open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", [^)]*\) = \d+', log.read_text()):
        path = Path(m.group(1))
        if path.is_file() and path.resolve().is_relative_to(root):
            reads.add(path.resolve().relative_to(root).as_posix())
    return reads


def cluster_key(root: Path) -> str:
    repo = Repository(root, load_repository(root), kustomize_command())
    return Fingerprints(root).of_inputs(cluster_inputs(repo, "c1"))


@pytest.fixture(scope="module")
def traced_fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    if not shutil.which("strace"):
        pytest.skip("needs strace to record which files kustomize reads")
    root = make(tmp_path_factory.mktemp("traced") / "repo", INPUT_FLEET).resolve()
    reads = sorted(kustomize_reads(root, root / "apps"))
    # the recording sees what only builtin plugin configs name: the test would be vacuous otherwise
    assert {"patches/security.yaml", "patches/smp.yaml", "data/conf.txt", "data/vars.env"} <= set(reads), reads
    return root, reads


@needs_kustomize
@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_of_a_file_kustomize_read_changes_the_cache_key(
    traced_fleet: tuple[Path, list[str]], data: st.DataObject
) -> None:
    root, reads = traced_fleet
    file = data.draw(st.sampled_from(reads), label="file")
    path = root / file
    original = path.read_bytes()
    edited = data.draw(
        st.one_of(
            st.binary(min_size=1, max_size=40).map(lambda b: original + b),
            st.integers(0, max(len(original) - 1, 0)).map(lambda i: original[:i] + original[i + 1 :]),
            st.binary(min_size=0, max_size=80),
        ).filter(lambda b: b != original),
        label="content",
    )
    before = cluster_key(root)
    try:
        path.write_bytes(edited)
        assert cluster_key(root) != before, f"an edit of {file} (read by kustomize) left the cache key unchanged"
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- 3: quick actions in the MR note

HOSTILE = st.text(alphabet=st.sampled_from(list("/\n\r\u2028\u0085\x0b`|<>ab ~@#!-+")), min_size=0, max_size=24)


def quick_action_lines(note: str) -> list[str]:
    """Lines GitLab could run as quick actions: those starting with ``/`` (leading blanks ignored)."""
    return [ln for ln in re.split("\r\n|\r|\n", note) if ln.lstrip(" \t").startswith("/")]


@settings(max_examples=300, deadline=None)
@given(
    name=HOSTILE,
    path=HOSTILE,
    obj=HOSTILE,
    error=HOSTILE,
    line=HOSTILE,
    outside=HOSTILE,
    base=HOSTILE,
)
def test_3_no_line_of_the_diff_note_can_start_with_a_slash(
    name: str, path: str, obj: str, error: str, line: str, outside: str, base: str
) -> None:
    from gitopsgen.diff.compare import ClusterDiff, ObjectChange
    from gitopsgen.diff.formats import DiffReport, render_markdown
    from gitopsgen.diff.objects import ObjectKey
    from gitopsgen.publish.gitlab import note_body

    change = ObjectChange(ObjectKey("apps", "Deployment", obj, obj), "changed", [f"--- a/{obj}", f"+{line}"], 1, 0)
    cluster = ClusterDiff(name, "changed", "", [path], [change], {"head": [error]})
    report = DiffReport(base, "0" * 40, "working tree", [cluster, ClusterDiff(obj, "skipped", "no input changed")])
    report.outside = [outside, path]
    for limit in (900_000, 600):  # with and without room for the object: its name is listed instead
        note, _ = note_body(render_markdown(report, max_lines=5, limit=limit))
        assert not quick_action_lines(note), note


@given(message=HOSTILE, file=HOSTILE, obj=HOSTILE, cluster=HOSTILE)
@settings(max_examples=200, deadline=None)
def test_3_no_line_of_the_validate_note_can_start_with_a_slash(message: str, file: str, obj: str, cluster: str) -> None:
    from gitopsgen.validate.catalogue import RULES
    from gitopsgen.validate.findings import Finding
    from gitopsgen.validate.report import markdown

    findings = [Finding(file, 1, "K001", message, object=obj, cluster=cluster)]
    note = markdown.render(findings, root_name=file, clusters=[cluster], rules=RULES)
    assert not quick_action_lines(note), note


@needs_kustomize
@pytest.mark.slow
def test_3_a_file_path_with_newlines_does_not_inject_quick_actions(tmp_path: Path) -> None:
    import git

    from gitopsgen.diff import rendered_diff
    from gitopsgen.diff.formats import render_markdown

    root = make(
        tmp_path / "repo",
        {"clusters/c1/cm.yaml": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "d"}}},
    )
    repo = git.Repo.init(root)
    repo.index.add(["clusters/c1/cm.yaml"])
    repo.index.commit("base", author=git.Actor("t", "t@example.invalid"), committer=git.Actor("t", "t@example.invalid"))
    hostile = "clusters/c1/x\n/approve\n/label ~merged\n/merge\n.yaml"
    make(
        root, {hostile: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b\n/merge", "namespace": "d"}}}
    )
    report = rendered_diff(root, "HEAD", Settings(cache=False))
    note = render_markdown(report, max_lines=50)
    assert "/approve" in note  # the path is shown for review ...
    assert not quick_action_lines(note), note  # ... but never at the start of a line


# ---------------------------------------------------------------- 4: masking by construction

CLEAR = "hunter2-clear-text"


def _secret(data: Any, api: str = "v1", field: str = "data") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, field: data}


def _last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    import json

    out = dict(obj)
    out["metadata"] = {
        **obj["metadata"],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj)},
    }
    return out


HIDING_PLACES: list[tuple[str, Any]] = [
    ("list-items", {"apiVersion": "v1", "kind": "List", "items": [_secret({"password": CLEAR})]}),
    (
        "nested-list",
        {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"name": "l"},
            "items": [{"kind": "List", "items": [_secret({"k": CLEAR}, field="stringData")]}],
        },
    ),
    ("data-is-a-string", _secret(CLEAR)),
    ("data-is-a-list", _secret([CLEAR, {"x": CLEAR}], field="stringData")),
    ("numeric-value", _secret({"pin": 73317}, field="stringData")),
    ("other-field", {**_secret({}), "extra": {"token": CLEAR}}),
    ("odd-api-version", _secret({"password": CLEAR}, api="v1beta0")),
    (  # any object's annotation may hold a Secret as applied (kubectl apply of a List, a hand edit)
        "last-applied",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "c",
                "namespace": "n",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": f'{{"kind":"Secret","data":{{"a":"{CLEAR}"}}}}'
                },
            },
        },
    ),
    ("last-applied-of-secret", _last_applied(_secret({"password": CLEAR}, field="stringData"))),
    (
        "external-secret-template",
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "metadata": {"name": "e", "namespace": "n"},
            "spec": {"target": {"template": {"data": {"config.yaml": f"password: {CLEAR}"}}}},
        },
    ),
]


@pytest.mark.parametrize(("where", "obj"), HIDING_PLACES, ids=[w for w, _ in HIDING_PLACES])
def test_4_a_secret_anywhere_is_masked_in_every_format(where: str, obj: dict[str, Any]) -> None:
    import copy
    import json

    from gitopsgen.diff.compare import ClusterDiff, index, object_changes
    from gitopsgen.diff.formats import DiffReport, render

    def without_secret(value: Any) -> Any:  # the same object with the clear text swapped: a changed value
        return json.loads(json.dumps(value).replace(CLEAR, "other-clear").replace("73317", "11"))

    for before, after in ((None, obj), (without_secret(obj), obj), (obj, None)):
        changes = object_changes(
            "c1", index([copy.deepcopy(before)] if before else []), index([copy.deepcopy(after)] if after else [])
        )
        assert changes, where  # the change is still visible ...
        report = DiffReport("main", "0" * 40, "working tree", [ClusterDiff("c1", "changed", objects=changes)])
        for fmt in ("markdown", "diff", "json"):
            text = render(report, fmt)
            for clear in (CLEAR, "other-clear", "73317"):  # ... but no value of it, on either side
                assert clear not in text, (where, fmt, text)


def test_4_and_10_a_non_mapping_secret_at_the_base_does_not_crash_the_diff() -> None:
    from gitopsgen.diff.compare import index, object_changes

    [change] = object_changes("c1", index([_secret("not-a-mapping")]), index([_secret({"a": "b"})]))
    assert "<masked: changed>" in "\n".join(change.diff) and "not-a-mapping" not in "\n".join(change.diff)


# ---------------------------------------------------------------- 5 + 6: Helm render bounds

CHART_URL = "https://prefecthq.github.io/prefect-helm"


def worker_release(name: str, annotations: dict[str, str]) -> list[dict[str, Any]]:
    """A prefect-worker HelmRelease whose commonAnnotations (passed through ``tpl`` by the real chart) carry
    ``annotations``."""
    return [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "prefect", "namespace": "prefect"},
            "spec": {"interval": "12h", "url": CHART_URL},
        },
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "prefect"},
            "spec": {
                "interval": "30m",
                "chart": {
                    "spec": {
                        "chart": "prefect-worker",
                        "version": "2026.8.18172642",
                        "sourceRef": {"kind": "HelmRepository", "name": "prefect"},
                    }
                },
                "values": {
                    "worker": {
                        "config": {"workPool": "default"},
                        "apiConfig": "selfHostedServer",
                        "selfHostedServerApiConfig": {"apiUrl": "http://prefect-server.prefect:4200/api"},
                    },
                    "commonAnnotations": annotations,
                },
            },
        },
    ]


ATTACKS = {
    # finding 5: tpl recursion (the chart's common.tplvalues.render of a value that renders itself)
    "tpl-recursion": {"a": "{{ tpl .Values.commonAnnotations.a . }}"},
    # finding 6: a nested range that runs for minutes, and a 100 MB rendered string
    "nested-range": {"a": "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}"},
    "huge-string": {"a": '{{ repeat 100000000 "x" }}'},
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_5_6_a_render_past_its_bounds_is_a_finding_and_the_run_goes_on(
    attack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("GITOPSGEN_HELM_TIMEOUT", "8")
    monkeypatch.setenv("GITOPSGEN_HELM_MAX_MB", "1024")
    monkeypatch.setenv("GITOPSGEN_HELM_MAX_OUTPUT_MB", "4")
    docs = worker_release("hostile", ATTACKS[attack])
    root = make(
        tmp_path / "repo",
        {
            "clusters/c1/prefect.yaml": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prefect"}},
                *docs,
            ]
        },
    )
    broken = deployment()
    broken["spec"]["replicass"] = 1
    make(root, {"clusters/c1/app.yaml": broken})  # the rest of the cluster is still checked
    settings_ = Settings(
        helm_mirrors=((CHART_URL, str(shared("helm-repo"))),), chart_cache=tmp_path / "charts", cache=True
    )
    started = time.monotonic()
    result = engine.validate(root, settings_)
    assert time.monotonic() - started < 60
    h006 = [f for f in result.findings if f.rule == "H006"]
    assert len(h006) == 1 and h006[0].object == "HelmRelease prefect/hostile", result.findings
    assert any(f.rule == "K001" and "replicass" in f.message for f in result.findings)
    assert result.exit_code == 1
    if attack == "nested-range":  # a bound exceeded is never cached: the next run renders again
        assert engine.validate(root, settings_).stats["clusters_cached"] == 0


@pytest.mark.slow
def test_5_6_the_report_is_written_when_a_render_exceeds_its_bounds(tmp_path: Path) -> None:
    import json
    import os
    import sys

    root = make(tmp_path / "repo", {"clusters/c1/prefect.yaml": worker_release("hostile", ATTACKS["tpl-recursion"])})
    report = tmp_path / "report.json"
    env = {**os.environ, "GITOPSGEN_HELM_TIMEOUT": "15", "GITOPSGEN_HELM_MAX_MB": "1024"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitopsgen.cli",
            "validate",
            str(root),
            "--no-cache",
            "--helm-mirror",
            f"{CHART_URL}={shared('helm-repo')}",
            "--chart-cache",
            str(tmp_path / "charts"),
            "--format",
            "json",
            "--output",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(report.read_text())["findings"]
    assert "H006" in {f["rule"] for f in findings}, [f["message"] for f in findings]


def test_6_the_output_bound_stops_a_render(tmp_path: Path) -> None:
    from gitopsgen.validate.helmworker import BoundExceeded, Bounds, render_bounded

    archive = shared("helm-repo", "prefect-worker-2026.8.18172642.tgz")
    values = worker_release("w", {})[1]["spec"]["values"]
    rendered = render_bounded(archive, values, "w", "prefect", bounds=Bounds(60, 1024, 1))
    assert {o["kind"] for _, o in rendered.objects} >= {"Deployment", "ServiceAccount"}
    with pytest.raises(BoundExceeded, match="rendered output exceeds"):
        render_bounded(archive, values, "w", "prefect", bounds=Bounds(60, 1024, 0.001))
    # the worker killed for it is replaced: the next render works
    assert render_bounded(archive, values, "w", "prefect", bounds=Bounds(60, 1024, 1)).objects == rendered.objects


@needs_kustomize
@pytest.mark.slow
def test_6_kustomize_output_past_its_bound_is_a_build_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPSGEN_KUSTOMIZE_MAX_OUTPUT_MB", "1")
    files = {
        "clusters/c1/kustomization.yaml": {
            "resources": ["app.yaml"],
            "configMapGenerator": [{"name": "big", "namespace": "default", "files": ["big.txt"]}],
        },
        "clusters/c1/app.yaml": deployment(),
        "clusters/c1/big.txt": "x" * (3 << 20),
    }
    root = make(tmp_path / "repo", files)
    result = engine.validate(root, Settings(cache=False))
    assert any(f.rule == "B001" and "output exceeds 1 MB" in f.message for f in result.findings), result.findings
    monkeypatch.setenv("GITOPSGEN_KUSTOMIZE_MAX_OUTPUT_MB", "8")
    assert not [f for f in engine.validate(root, Settings(cache=False)).findings if f.rule == "B001"]


# ---------------------------------------------------------------- 10: child processes get no credentials

SECRET_VARIABLES = ("GITOPSGEN_REGISTRY_PASSWORD", "GITOPSGEN_GITLAB_TOKEN", "GITOPSGEN_CACHE_SECRET", "CI_JOB_TOKEN")


def test_10_kustomize_runs_with_a_scrubbed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys

    from gitopsgen.validate.kustomize import build

    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, "s3cret-value")
    spy = [sys.executable, "-c", "import json, os; print(json.dumps({'kind': 'Env', 'env': dict(os.environ)}))"]
    built = build(tmp_path, [tmp_path], command=spy)
    [(env, _)] = built.objects
    assert "PATH" in env["env"] and "KUSTOMIZE_PLUGIN_HOME" in env["env"]
    assert not set(SECRET_VARIABLES) & set(env["env"]), env
    assert "s3cret-value" not in json.dumps(env)


# ---------------------------------------------------------------- 7: a hostile journal


@pytest.mark.parametrize("field", ["write", "delete", "dirs"])
def test_7_a_journal_naming_a_path_through_a_symlink_out_of_the_repository_is_refused(
    tmp_path: Path, field: str
) -> None:
    import json

    from gitopsgen.errors import InputError
    from gitopsgen.generate import tree, treewrite

    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("not the repository's\n")
    (outside / ".gitopsgen-bak-victim.txt").write_text("backup\n")
    (outside / "empty").mkdir()
    fleet = tmp_path / "fleet"  # no .git: the journal is repository content a merge request can commit
    fleet.mkdir()
    (fleet / "link").symlink_to(outside)
    entry = {"write": [["link/victim.txt", False]], "delete": ["link/victim.txt"], "dirs": ["link/empty"]}
    doc = {"root": ".", "phase": "commit", "write": [], "delete": [], "dirs": [], field: entry[field]}
    (fleet / ".gitopsgen.journal").write_text(json.dumps(doc))
    before = sorted((p.name, p.read_text() if p.is_file() else "") for p in outside.iterdir())
    with pytest.raises(InputError, match=r"gitopsgen\.journal \(link(/empty)? leads outside the repository"):
        treewrite.apply(fleet, tree.plan(fleet, {"owned/a.yaml": "a: 1\n"}, ["owned"]))
    assert sorted((p.name, p.read_text() if p.is_file() else "") for p in outside.iterdir()) == before
    assert not (fleet / "owned").exists()  # nothing written either


# ---------------------------------------------------------------- 8: cache poisoning


def forge_clean(cache: Path) -> int:
    """What a merge-request pipeline sharing the cache could do: rewrite every cluster outcome as clean."""
    import json

    count = 0
    for path in (cache / "results" / "cluster").rglob("*.json"):
        entry = json.loads(path.read_text())
        entry["value"]["findings"] = []
        path.write_text(json.dumps(entry))
        count += 1
    return count


def test_8_forged_cache_entries_are_not_trusted_with_a_cache_secret(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = deployment()
    broken["spec"]["replicass"] = 1
    root = make(tmp_path / "repo", {"clusters/c1/app.yaml": broken})
    # without a secret (no protection): the forged entry is what the next run reports
    assert engine.validate(root, Settings()).exit_code == 1
    assert forge_clean(cache) == 1
    assert engine.validate(root, Settings()).exit_code == 0  # the attack this protects against
    # with the secret (a protected CI variable): the main pipeline signs its entries ...
    monkeypatch.setenv("GITOPSGEN_CACHE_SECRET", "protected-variable")
    signed = engine.validate(root, Settings())
    assert signed.exit_code == 1 and signed.stats["clusters_cached"] == 0  # the unsigned forgery is a miss
    assert engine.validate(root, Settings()).stats["clusters_cached"] == 1  # its own signed entry is a hit
    # ... and an entry altered by a pipeline without the secret is a miss, not a clean result
    assert forge_clean(cache) >= 1
    again = engine.validate(root, Settings())
    assert again.exit_code == 1 and again.stats["clusters_cached"] == 0


@pytest.mark.parametrize("which", ["results", "crds", "."])
def test_8_10_a_symlinked_cache_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    from gitopsgen.errors import InputError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.json").write_text("{}")
    cache_dir = tmp_path / "cache-root"
    if which == ".":
        cache_dir.symlink_to(elsewhere)
    else:
        cache_dir.mkdir()
        (cache_dir / which).symlink_to(elsewhere)
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(cache_dir))
    root = make(tmp_path / "repo", {"clusters/c1/app.yaml": deployment()})
    with pytest.raises(InputError, match="is a symlink: refusing to use it as gitopsgen's cache"):
        engine.validate(root, Settings())
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.json"]
    assert engine.validate(root, Settings(cache=False)).exit_code == 0  # --no-cache still works


@pytest.mark.parametrize("which", ["project", "scaffold"])
def test_8_ci_caches_per_ref_and_merge_request_pipelines_only_pull(which: str) -> None:
    from conftest import ROOT

    from gitopsgen.generate.scaffold import GITLAB_CI

    text = (ROOT / ".gitlab-ci.yml").read_text() if which == "project" else GITLAB_CI
    pipeline = yaml.safe_load(text)
    cache_ = pipeline["default"]["cache"]
    assert "$CI_COMMIT_REF_SLUG" in cache_["key"]
    assert cache_["fallback_keys"] == ["gitopsgen-$CI_DEFAULT_BRANCH"]
    assert (
        cache_["policy"] == "$GITOPSGEN_CACHE_POLICY" and pipeline["variables"]["GITOPSGEN_CACHE_POLICY"] == "pull-push"
    )

    # every rule that admits a merge-request pipeline turns the policy to pull: the workflow's (it applies to
    # every job), else each job's
    def mr_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rules if "merge_request_event" in str(r.get("if", ""))]

    chosen = mr_rules((pipeline.get("workflow") or {}).get("rules", []))
    if not chosen:
        chosen = mr_rules([r for job in pipeline.values() if isinstance(job, dict) for r in job.get("rules") or []])
    assert chosen and all(r.get("variables", {}).get("GITOPSGEN_CACHE_POLICY") == "pull" for r in chosen)


# ---------------------------------------------------------------- 9: in-repository chart templates


def test_9_chart_templates_in_the_repository_are_not_parsed_as_yaml(tmp_path: Path) -> None:
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  {{- range $k, $v := .Values.data }}\n  {{ $k }}: {{ $v | quote }}\n  {{- end }}\n"
    )
    files: dict[str, object] = {
        "charts/app/Chart.yaml": {"apiVersion": "v2", "name": "app", "version": "0.1.0"},
        "charts/app/values.yaml": {"data": {"a": "1"}},
        "charts/app/templates/configmap.yaml": template,
        "charts/app/charts/sub/Chart.yaml": {"apiVersion": "v2", "name": "sub", "version": "0.1.0"},
        "charts/app/charts/sub/templates/cm.yaml": template,
        "clusters/c1/app.yaml": deployment(),
        "other/templates/broken.yaml": "a: [\n",  # not a chart: still parsed, still a finding
    }
    root = make(tmp_path / "repo", files)
    result = engine.validate(root, Settings(cache=False))
    y001 = {f.file for f in result.findings if f.rule == "Y001"}
    assert y001 == {"other/templates/broken.yaml"}, result.findings


# ---------------------------------------------------------------- 10: git runs nothing of the repository's


def git_repo(root: Path) -> Any:
    import git

    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.invalid")
    (root / "a.yaml").write_text("a: 1\n")
    repo.index.add(["a.yaml"])
    repo.index.commit("base")
    return repo


def test_10_diff_and_changed_since_run_no_fsmonitor_no_hooks_no_filters(tmp_path: Path) -> None:
    from gitopsgen.publish import git as gitops

    root = tmp_path / "repo"
    root.mkdir()
    repo = git_repo(root)
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\n')
    script.chmod(0o755)
    hooks = root / ".git" / "hooks"
    for hook in ("post-checkout", "reference-transaction"):
        (hooks / hook).write_text(script.read_text())
        (hooks / hook).chmod(0o755)
    with repo.config_writer() as config:
        config.set_value("core", "fsmonitor", str(script))
        config.set_value('filter "evil"', "smudge", f"{script} smudge")
        config.set_value('filter "evil"', "clean", f"{script} clean")
        config.set_value('filter "evil"', "required", "true")
    (root / ".gitattributes").write_text("*.yaml filter=evil\n")
    repo.index.add([".gitattributes"])
    repo.index.commit("attributes")
    (root / "a.yaml").write_text("a: 2\n")
    assert gitops.changed_paths(root, "HEAD") == {"a.yaml"}
    assert gitops.commit_of(root, "HEAD") == repo.head.commit.hexsha
    with gitops.worktree_at(root, "HEAD") as base:
        assert (base / "a.yaml").read_text() == "a: 1\n"
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("ref", ["HEAD:..", "HEAD:a.yaml", "HEAD^{tree}", "no-such-ref", "-x"])
def test_10_a_base_that_is_not_a_commit_is_a_clean_error(tmp_path: Path, ref: str) -> None:
    from gitopsgen.errors import InputError
    from gitopsgen.publish import git as gitops

    root = tmp_path / "repo"
    root.mkdir()
    git_repo(root)
    with pytest.raises(InputError, match=r"git ref"):
        gitops.commit_of(root, ref)


def test_10_git_hooks_never_see_our_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitopsgen.publish import git as gitops

    root = tmp_path / "repo"
    root.mkdir()
    git_repo(root)
    seen = tmp_path / "hook-env"
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nenv > {seen}\n")
    hook.chmod(0o755)
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, "s3cret-value")
    (root / "b.yaml").write_text("b: 1\n")
    assert gitops.commit_paths(root, ["b.yaml"], "add b")
    assert seen.exists()
    gitopsgen_secrets = [n for n in SECRET_VARIABLES if n.startswith("GITOPSGEN_")]
    assert not [n for n in gitopsgen_secrets if f"{n}=s3cret-value" in seen.read_text()]


def test_10_a_secret_value_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default"},
        "stringData": {"pin": 73317, "flag": 4242.5, "list": ["918273"]},
    }
    root = make(tmp_path / "repo", {"clusters/c1/secret.yaml": secret})
    result = engine.validate(root, Settings(cache=False))
    k001 = [f for f in result.findings if f.rule == "K001"]
    assert len(k001) == 3, result.findings  # each wrong value is still reported ...
    assert not [f for f in k001 if any(v in f.message for v in ("73317", "4242", "918273"))], k001  # ... not shown


# ---------------------------------------------------------------- 10: hosts a repository's URLs may name


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/charts",
        "https://localhost/charts",
        "http://169.254.169.254/latest/meta-data",  # a cloud metadata service: never contacted, only parsed
        "http://[::1]:5000/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "127.0.0.1:5000/charts",  # an OCI reference without its scheme
    ],
)
def test_10_loopback_and_link_local_hosts_are_denied(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.parse

    from gitopsgen.validate.hosts import HostPolicy, HostRefused

    monkeypatch.delenv("GITOPSGEN_ALLOW_HOSTS", raising=False)
    with pytest.raises(HostRefused, match="GITOPSGEN_ALLOW_HOSTS"):
        HostPolicy.from_environment().check(url)
    host = urllib.parse.urlsplit(url if "://" in url else f"//{url}").hostname
    monkeypatch.setenv("GITOPSGEN_ALLOW_HOSTS", f"example.com, {host}")
    HostPolicy.from_environment().check(url)  # allowed explicitly


class _Counting:
    def __init__(self) -> None:
        self.paths: list[str] = []


def _redirecting_server(target: str, seen: _Counting) -> Any:
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.paths.append(self.path)
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.mark.slow
def test_10_validate_does_not_fetch_from_loopback_unless_allowed(
    tmp_path: Path, helm_repo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import serve

    monkeypatch.delenv("GITOPSGEN_ALLOW_HOSTS", raising=False)
    docs = worker_release("w", {})
    docs[0]["spec"]["url"] = helm_repo_url  # http://127.0.0.1:PORT, named by the repository itself
    root = make(tmp_path / "repo", {"clusters/c1/prefect.yaml": docs})
    settings_ = Settings(chart_cache=tmp_path / "charts", cache=False)
    refused = [f for f in engine.validate(root, settings_).findings if f.rule == "H001"]
    assert len(refused) == 1 and "127.0.0.1 is a loopback address" in refused[0].message, refused
    # a host that is allowed redirects to one that is not: the redirect is refused, not followed
    seen = _Counting()
    with serve(_redirecting_server(helm_repo_url, seen)) as port:
        docs[0]["spec"]["url"] = f"http://localhost:{port}"
        make(root, {"clusters/c1/prefect.yaml": docs})
        monkeypatch.setenv("GITOPSGEN_ALLOW_HOSTS", "localhost")
        refused = [f for f in engine.validate(root, settings_).findings if f.rule == "H001"]
    assert seen.paths == ["/index.yaml"]
    assert len(refused) == 1 and "127.0.0.1 is a loopback address" in refused[0].message, refused
    # allowed explicitly (or mirrored): fetched and rendered
    docs[0]["spec"]["url"] = helm_repo_url
    make(root, {"clusters/c1/prefect.yaml": docs})
    monkeypatch.setenv("GITOPSGEN_ALLOW_HOSTS", "127.0.0.1")
    result = engine.validate(root, settings_)
    assert not [f for f in result.findings if f.rule.startswith("H")], result.findings


def test_10_an_oci_registry_on_loopback_is_not_contacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitopsgen.validate.chartarchive import ChartError
    from gitopsgen.validate.charts import ChartFetcher, ChartRequest
    from gitopsgen.validate.hosts import HostPolicy

    monkeypatch.delenv("GITOPSGEN_ALLOW_HOSTS", raising=False)
    fetcher = ChartFetcher(tmp_path, hosts=HostPolicy.from_environment())
    with pytest.raises(ChartError, match="loopback"):
        fetcher.fetch(ChartRequest("oci://127.0.0.1:1/charts", "demo", "1.0.0"))


def test_10_matching_built_objects_to_documents_is_linear_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5,000 Kustomizations in one file took minutes: every object looked at every document of its file."""
    from gitopsgen.validate.model import Document

    n = 1500
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "n"}} for i in range(n)
    ]
    root = make(tmp_path, {"big.yaml": docs}).resolve()
    repo = Repository(root, load_repository(root), kustomize_command())
    looked = 0
    original = Document.is_object

    def counting(self: Document) -> bool:
        nonlocal looked
        looked += 1
        return original.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Document, "is_object", property(counting))
    for i in range(n):
        assert repo.match_document("big.yaml", docs[i]).data["metadata"]["name"] == f"c{i}"  # type: ignore[union-attr]
    assert looked <= 2 * n, looked  # a quadratic lookup makes n * n of them


def test_8_the_crd_cache_is_signed_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from gitopsgen.validate.schemas import SchemaStore

    widget = Path(__file__).parent / "validate" / "data" / "schemas" / "widgets.example.com.yaml"
    cache_dir = tmp_path / "crds"
    monkeypatch.setenv("GITOPSGEN_CACHE_SECRET", "protected-variable")
    store = SchemaStore()
    store.add_crds_from(widget)
    [saved] = store.save_to_cache(cache_dir)
    assert SchemaStore().add_cache(cache_dir) == 1  # signed by a pipeline with the secret: used
    forged = json.loads(saved.read_text())
    forged["spec"]["versions"] = [
        {**v, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
        for v in forged["spec"]["versions"]
    ]
    saved.write_text(json.dumps(forged))
    assert SchemaStore().add_cache(cache_dir) == 0  # altered: not used
    monkeypatch.delenv("GITOPSGEN_CACHE_SECRET")
    unsigned = SchemaStore()
    unsigned.add_crds_from(widget)
    unsigned.save_to_cache(cache_dir)
    monkeypatch.setenv("GITOPSGEN_CACHE_SECRET", "protected-variable")
    assert SchemaStore().add_cache(cache_dir) == 0  # written without the secret: not used
