"""Property tests (hypothesis) of issue 6.

What this module owns:

- "any byte string as a YAML file → findings, never an exception": the loader (``load_file``) on
  arbitrary bytes, arbitrary text and YAML-ish documents (``yaml.safe_dump`` of nested data, then
  mutated), and a few of them through the whole engine on a tiny repository;
- "any valid intent → generated tree that ``validate`` passes with zero error findings": fleet and
  cluster intent drawn from what ``add-cluster`` accepts (DNS-label names, single/ha with their
  requirements, 1 to 3 pools with namespaces (one, or several a deployment may target), queues, replicas,
  resources (requests above the default limit included), flow images and policies,
  image automation on/off, ingress on/off, basic auth), generated through the real command
  (in-process ``cli.main``) into a fresh git repository and validated with the Flux and ESO CRDs and
  the Prefect charts of ../shared (a local Helm mirror).

Examples are derandomized so CI runs the same ones every time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import INIT_ARGS, make_repo, shared
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Finding, Severity
from gitopsgen.validate.load import LoadedFile, load_file

CHART_URL = "https://prefecthq.github.io/prefect-helm"
LOADER_RULES = {"Y001", "Y002", "Y003", "Y004"}


AGE_RECIPIENT = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"  # Flux's test key (sops-vectors)


def show(findings: list[Finding]) -> str:
    return "\n".join(f"{f.file}:{f.line}: {f.severity.value} {f.rule} {f.message} ({f.cluster})" for f in findings)


# ---------------------------------------------------------------- any bytes → findings


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A directory the loader examples overwrite one file in (hypothesis reruns the test body, not fixtures)."""
    with tempfile.TemporaryDirectory(prefix="gitopsgen-props-") as tmp:
        yield Path(tmp).resolve()


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=8)
)
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


YAML_BITS = [b"&a ", b"*a", b"[", b"{", b"- ", b": ", b"\t", b"---\n", b"? ", b"!!binary "]


@st.composite
def yamlish(draw: st.DrawFn) -> bytes:
    """A YAML document of nested data, then mutated: bytes cut, doubled, replaced or inserted."""
    text = yaml.safe_dump(draw(nested), allow_unicode=True).encode("utf-8")
    for _ in range(draw(st.integers(0, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["cut", "double", "replace", "insert"]))
        if op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif op == "double":
            text = text[:at] + text[at:] * 2
        elif op == "replace":
            text = text[:at] + draw(st.binary(min_size=1, max_size=4)) + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(YAML_BITS)) + text[at:]
    return text


any_file = st.one_of(st.binary(max_size=2048), st.text(max_size=512).map(lambda t: t.encode("utf-8")), yamlish())


def check_load(root: Path, data: bytes) -> tuple[LoadedFile | None, list[Finding]]:
    path = root / "f.yaml"
    path.write_bytes(data)
    loaded, findings = load_file(root, "f.yaml")
    assert loaded is not None or findings, "a file that was not loaded must say why"
    assert all(isinstance(f, Finding) and f.rule in LOADER_RULES and f.file == "f.yaml" for f in findings), findings
    if loaded is not None:
        assert all(d.file == "f.yaml" for d in loaded.documents)
    return loaded, findings


@settings(max_examples=300, derandomize=True, deadline=None)
@given(data=any_file)
def test_any_bytes_load_as_documents_or_findings(scratch: Path, data: bytes) -> None:
    check_load(scratch, data)


@settings(max_examples=10, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=any_file)
def test_any_bytes_through_the_engine(scratch: Path, data: bytes) -> None:
    root = scratch / "repo"
    (root / "clusters/c1").mkdir(parents=True, exist_ok=True)
    (root / "clusters/c1/x.yaml").write_bytes(data)
    result = engine.validate(root, Settings(chart_cache=scratch / "charts", offline=True))
    assert isinstance(result, engine.Result)
    assert [f for f in result.findings if f.rule == "R001"] == [], show(result.findings)


# ---------------------------------------------------------------- any valid intent → validates clean


label = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
quantity_cpu = st.sampled_from(["100m", "250m", "500m", "1", "2"])
quantity_memory = st.sampled_from(["8Gi", "128Mi", "512Mi", "1Gi", "2Gi"])
MEBI = {"128Mi": 128, "512Mi": 512, "1Gi": 1024, "2Gi": 2048, "4Gi": 4096, "8Gi": 8192, "16Gi": 16384}
RESERVED = {"prefect", "flux-system", "kube-system", "kube-public", "default"}


@st.composite
def pool_spec(draw: st.DrawFn, name: str) -> str:
    items: list[str] = []
    if draw(st.booleans()):
        queues = draw(st.lists(label, min_size=1, max_size=3, unique=True))
        items.append("queues=" + "+".join(queues))
    if draw(st.booleans()):
        items.append(f"replicas={draw(st.integers(1, 5))}")
    namespace = label.filter(lambda n: n not in RESERVED)
    choice = draw(st.sampled_from(["default", "namespace", "namespaces"]))
    if choice == "namespace":
        items.append("namespace=" + draw(namespace))
    elif choice == "namespaces":  # the namespaces the pool's deployments may target (worker RBAC follows)
        items.append("namespaces=" + "+".join(draw(st.lists(namespace, min_size=1, max_size=2, unique=True))))
    if draw(st.booleans()):
        items.append(f"ttl={draw(st.integers(0, 86400))}")
    if draw(st.booleans()):
        items.append("cpu=" + draw(quantity_cpu))
    memory = draw(st.one_of(st.none(), quantity_memory))
    if memory:  # above the default 2Gi limit, add-cluster raises the limit to the request
        items.append("memory=" + memory)
    if draw(st.booleans()):  # a limit given explicitly must hold the request (else add-cluster refuses)
        limits = [q for q in ("2Gi", "4Gi", "8Gi", "16Gi") if memory is None or MEBI[q] >= MEBI[memory]]
        items.append("memory-limit=" + draw(st.sampled_from(limits)))
    if draw(st.booleans()):
        major = draw(st.integers(0, 3))
        items.append(f"flow-image=harbor.example.com/data/{name}:{major}.{draw(st.integers(0, 9))}.0")
        if draw(st.booleans()):
            items.append(f"policy=>={major}.0.0 <{major + 1}.0.0")
    return name + (":" + ",".join(items) if items else "")


@st.composite
def add_cluster_args(draw: st.DrawFn) -> list[str]:
    """``add-cluster`` arguments the command accepts (its own checks are the definition of valid)."""
    name = draw(label)
    args = ["add-cluster", name]
    if draw(st.booleans()):
        args += ["--server-mode", "ha", "--server-replicas", str(draw(st.integers(2, 5)))]
        args += ["--database-secret", draw(label)]
        redis = draw(st.one_of(st.just("bundled"), label.map(lambda h: f"{h}.redis.svc"), st.just("redis:6380")))
        args += ["--redis", redis, "--redis-secret", draw(label)]
    else:
        args += ["--server-mode", "single"]
        if draw(st.booleans()):
            args += ["--storage-size", draw(st.sampled_from(["1Gi", "5Gi", "20Gi"]))]
    if draw(st.booleans()):
        args += ["--ingress-host", f"{draw(label)}.{name}.example.com"]
        if draw(st.booleans()):
            args += ["--ingress-class", "nginx"]
        if draw(st.booleans()):
            args += ["--tls-secret", draw(label)]
    if draw(st.booleans()):
        args += ["--auth-secret", draw(label)]
    names = draw(st.lists(label, min_size=1, max_size=3, unique=True))
    for pool in names:
        args += ["--worker-pool", draw(pool_spec(pool))]
    automation = draw(st.sampled_from([None, True, False]))
    if automation is not None:
        args.append("--image-automation" if automation else "--no-image-automation")
    if draw(st.booleans()):  # pull secrets SOPS-encrypted in git instead of ExternalSecrets
        args += ["--registry-credentials", "sops", "--age-recipient", AGE_RECIPIENT]
    return args


# a fleet without a registry: public images, no pull secrets (the store still delivers the server's Secrets)
PUBLIC_INIT_ARGS = ("init", "--secret-store", "vault-backend", "--git-url", INIT_ARGS[-1])


def generate(root: Path, args: list[str], init: tuple[str, ...] = INIT_ARGS) -> None:
    from gitopsgen.cli import cli

    make_repo(root)
    login = {"GITOPSGEN_REGISTRY_USERNAME": "robot", "GITOPSGEN_REGISTRY_PASSWORD": "pa55word"}
    saved = {k: os.environ.get(k) for k in login}
    os.environ.update(login)  # the SOPS pull secrets are encrypted from the environment's login
    try:
        for command in (list(init), args):
            code = cli.main([*command, "--repo", str(root)], standalone_mode=False)
            assert not code, f"gitopsgen {' '.join(command)} exited {code}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def fleet_settings(scratch: Path) -> Settings:
    return Settings(
        crds=(shared("flux-crds"), shared("external-secrets-crds")),
        helm_mirrors=((CHART_URL, str(shared("helm-repo"))),),
        chart_cache=scratch / "fleet-charts",
    )


@pytest.mark.slow
@settings(max_examples=12, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=add_cluster_args(), init=st.sampled_from([INIT_ARGS, PUBLIC_INIT_ARGS]))
def test_any_valid_intent_validates_without_errors(
    fleet_settings: Settings, args: list[str], init: tuple[str, ...]
) -> None:
    assume(init == INIT_ARGS or "sops" not in args)  # SOPS pull secrets need a registry
    with tempfile.TemporaryDirectory(prefix="gitopsgen-intent-") as tmp:
        root = Path(tmp) / "fleet"
        root.mkdir()
        generate(root, args, init)
        result = engine.validate(root, fleet_settings)
        errors = [f for f in result.findings if f.severity == Severity.ERROR]
        assert errors == [], f"gitopsgen {' '.join(args)}\n{show(errors)}"
        assert result.clusters == [args[1]]


def test_strategy_draws_both_server_modes_and_several_pools() -> None:
    """The intent strategy is not degenerate: it reaches ha, ingress and three pools."""
    seen: list[Any] = []

    @settings(max_examples=60, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(args=add_cluster_args())
    def collect(args: list[str]) -> None:
        seen.append(args)

    collect()
    assert any("ha" in a for a in seen) and any("--ingress-host" in a for a in seen)
    assert any(a.count("--worker-pool") == 3 for a in seen)
    assert any("sops" in a for a in seen) and any("sops" not in a for a in seen)
    pools = [a for args in seen for a in args if ":" in a and not a.startswith(("harbor", "age1"))]
    assert any("namespaces=" in p for p in pools) and any("memory=8Gi" in p for p in pools)
