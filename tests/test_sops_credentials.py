"""SOPS registry credentials end to end: add-cluster writes only ciphertext that decrypts to the pull secret,
generate keeps or rotates it, anything that no longer fits the intent is refused, and the tree validates."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, shared

from gitopsgen.errors import InputError
from gitopsgen.generate import sops, sopsyaml
from gitopsgen.generate.credentials import PASSWORD_VARIABLE, USERNAME_VARIABLE, login_from

pyrage = pytest.importorskip("pyrage")

USER = "robot$prefect"
PASSWORD = "s3cr3t-Pa55:word\"'"  # quotes and a colon: JSON and auth encoding must cope
CREDS = "overlays/cluster-3/registry-credentials"


@pytest.fixture
def age_key() -> tuple[str, str]:
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


@pytest.fixture
def login_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USERNAME_VARIABLE, USER)
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)


def add_sops_cluster(fleet: Path, recipient: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "add-cluster",
        "cluster-3",
        "--from",
        "cluster-1",
        "--registry-credentials",
        "sops",
        "--age-recipient",
        recipient,
        "--repo",
        str(fleet),
    )


def all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts)


def pull_secrets(fleet: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((fleet / CREDS).glob("pull-secret-*.sops.yaml"))}


def decrypted_config(text: str, identity: str) -> dict:
    [doc] = sopsyaml.load(text)
    plain = sops.decrypt(doc, [identity])
    return json.loads(plain["stringData"][".dockerconfigjson"])


def test_add_cluster_writes_only_ciphertext(fleet: Path, age_key: tuple[str, str], login_env: None) -> None:
    identity, recipient = age_key
    proc = add_sops_cluster(fleet, recipient)
    assert proc.returncode == 0, proc.stderr
    secrets = pull_secrets(fleet)
    namespaces = ("flux-system", "prefect", "prefect-flows")
    assert sorted(secrets) == sorted(f"pull-secret-{ns}.sops.yaml" for ns in namespaces)
    everything = all_bytes(fleet)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    assert PASSWORD.encode() not in everything and auth not in everything
    # the fleet has a ClusterSecretStore: only the GitLab token still comes from it, no pull secret does
    external = list(yaml.safe_load_all((fleet / CREDS / "external-secrets.yaml").read_text()))
    assert [d["metadata"]["name"] for d in external] == ["gitlab-token"]
    for name, text in secrets.items():
        [doc] = sopsyaml.load(text)
        assert doc["metadata"]["namespace"] == name.removeprefix("pull-secret-").removesuffix(".sops.yaml")
        assert doc["stringData"][".dockerconfigjson"].startswith("ENC[AES256_GCM,")
        assert sops.recipients(doc) == [recipient]
        assert decrypted_config(text, identity) == {
            "auths": {"harbor.example.com": {"username": USER, "password": PASSWORD, "auth": auth.decode()}}
        }
    kustomization = yaml.safe_load((fleet / CREDS / "kustomization.yaml").read_text())
    assert set(secrets) <= set(kustomization["resources"])
    rules = yaml.safe_load((fleet / CREDS / ".sops.yaml").read_text())["creation_rules"]
    assert rules == [
        {"path_regex": r"pull-secret-.*\.sops\.yaml$", "encrypted_regex": "^(data|stringData)$", "age": recipient}
    ]
    sync_file = fleet / "clusters/cluster-3/prefect/prefect.yaml"
    sync = {d["metadata"]["name"]: d for d in yaml.safe_load_all(sync_file.read_text())}
    assert sync["prefect-registry-credentials"]["spec"]["decryption"] == {
        "provider": "sops",
        "secretRef": {"name": "sops-age"},
    }


def test_password_from_stdin_never_from_an_argument(fleet: Path, age_key: tuple[str, str]) -> None:
    identity, recipient = age_key
    env = {k: v for k, v in os.environ.items() if k not in (USERNAME_VARIABLE, PASSWORD_VARIABLE)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitopsgen.cli",
            "add-cluster",
            "cluster-3",
            "--from",
            "cluster-1",
            "--registry-credentials",
            "sops",
            "--age-recipient",
            recipient,
            "--repo",
            str(fleet),
            "--registry-username",
            USER,
            "--registry-password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    text = pull_secrets(fleet)["pull-secret-prefect.sops.yaml"]
    assert decrypted_config(text, identity)["auths"]["harbor.example.com"]["password"] == PASSWORD
    assert "--registry-password" not in run_cli("add-cluster", "--help").stdout.replace("--registry-password-stdin", "")


def test_without_a_login_nothing_is_written(
    fleet: Path, age_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    before = all_bytes(fleet)
    proc = add_sops_cluster(fleet, age_key[1])
    assert proc.returncode == 2 and PASSWORD_VARIABLE in proc.stderr and proc.stderr.count("\n") == 1
    assert all_bytes(fleet) == before


def test_generate_keeps_rotates_and_refuses(
    fleet: Path, age_key: tuple[str, str], login_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, recipient = age_key
    assert add_sops_cluster(fleet, recipient).returncode == 0
    first = pull_secrets(fleet)
    # kept byte for byte, and --check is clean, even with a login in the environment: no churn
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    assert run_cli("generate", "--repo", str(fleet)).returncode == 0
    assert pull_secrets(fleet) == first
    # an explicit rotation for the registry encrypts anew
    monkeypatch.setenv(PASSWORD_VARIABLE, "rotated-password")
    proc = run_cli("generate", "--rotate-registry-credentials", "harbor.example.com", "--repo", str(fleet))
    assert proc.returncode == 0, proc.stderr
    rotated = pull_secrets(fleet)
    assert rotated.keys() == first.keys() and all(rotated[k] != first[k] for k in first)
    assert (
        decrypted_config(rotated["pull-secret-prefect.sops.yaml"], identity)["auths"]["harbor.example.com"]["password"]
        == "rotated-password"
    )
    monkeypatch.delenv(PASSWORD_VARIABLE)
    assert run_cli("generate", "--check", "--repo", str(fleet)).returncode == 0
    # a new recipient in the intent: the files no longer fit, and without a login that is an error
    other = str(pyrage.x25519.Identity.generate().to_public())
    intent = fleet / "intent/clusters/cluster-3.yaml"
    intent.write_text(intent.read_text().replace(recipient, f"{recipient}\n    - {other}"))
    before = all_bytes(fleet)
    proc = run_cli("generate", "--repo", str(fleet))
    assert proc.returncode == 2 and "not to" in proc.stderr and other in proc.stderr
    assert all_bytes(fleet) == before
    # a plaintext Secret committed in place of the ciphertext is refused, also by --check
    intent.write_text(intent.read_text().replace(f"\n    - {other}", ""))
    path = fleet / CREDS / "pull-secret-prefect.sops.yaml"
    plain = sops.decrypt(sopsyaml.load(path.read_text())[0], [identity])
    path.write_text(
        yaml.safe_dump({**plain, "sops": sopsyaml.load(rotated["pull-secret-prefect.sops.yaml"])[0]["sops"]})
    )
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 2 and "is not encrypted" in proc.stderr


def test_the_tree_validates_and_needs_the_decryption_block(
    fleet: Path, age_key: tuple[str, str], login_env: None, helm_repo_url: str
) -> None:
    assert add_sops_cluster(fleet, age_key[1]).returncode == 0
    args = (
        "validate",
        str(fleet),
        "--cluster",
        "cluster-3",
        "--format",
        "json",
        "--crds",
        str(shared("flux-crds")),
        "--crds",
        str(shared("external-secrets-crds")),
        "--helm-mirror",
        f"https://prefecthq.github.io/prefect-helm={helm_repo_url}",
    )
    proc = run_cli(*args)
    findings = json.loads(proc.stdout)["findings"]
    assert proc.returncode == 0, [f for f in findings if f["severity"] == "error"]
    assert not [f for f in findings if "Secret prefect/registry-credentials" in f["message"] or f["rule"] == "B005"]
    sync = fleet / "clusters/cluster-3/prefect/prefect.yaml"
    docs = list(yaml.safe_load_all(sync.read_text()))
    for d in docs:
        d["spec"].pop("decryption", None)
    sync.write_text(yaml.safe_dump_all(docs))
    proc = run_cli(*args)
    assert proc.returncode == 1 and any(f["rule"] == "B005" for f in json.loads(proc.stdout)["findings"])


def test_login_options_are_checked() -> None:
    assert login_from({}) is None
    assert login_from({USERNAME_VARIABLE: "u", PASSWORD_VARIABLE: "p"}).password == "p"
    with pytest.raises(InputError, match="needs a username"):
        login_from({PASSWORD_VARIABLE: "p"})
    with pytest.raises(InputError, match="needs a password"):
        login_from({}, username="u")
    with pytest.raises(InputError, match="may not contain"):
        login_from({PASSWORD_VARIABLE: "p"}, username="a:b")
    with pytest.raises(InputError, match="empty"):
        login_from({}, username="u", password_stdin=io.StringIO("\n"))
    login = login_from({}, username="u", password_stdin=io.StringIO("hunter2\n"))
    assert login is not None and login.password == "hunter2" and "hunter2" not in repr(login)


def test_sops_without_a_secret_store(fleet: Path, age_key: tuple[str, str], login_env: None) -> None:
    fleet_file = fleet / "gitopsgen.yaml"
    fleet_file.write_text(fleet_file.read_text().replace("  secretStore: vault-backend\n", ""))
    proc = run_cli(
        "add-cluster",
        "cluster-3",
        "--registry-credentials",
        "sops",
        "--age-recipient",
        age_key[1],
        "--worker-pool",
        "default",
        "--repo",
        str(fleet),
    )
    assert proc.returncode == 0, proc.stderr
    assert not (fleet / CREDS / "external-secrets.yaml").exists()  # no store: no ExternalSecret at all
    assert "external-secrets.yaml" not in (fleet / CREDS / "kustomization.yaml").read_text()
    # and the ExternalSecret path still needs its store
    proc = run_cli("add-cluster", "cluster-4", "--worker-pool", "default", "--repo", str(fleet))
    assert proc.returncode == 2 and "--registry-credentials sops" in proc.stderr


def test_rotation_touches_only_its_registry(fleet: Path, age_key: tuple[str, str], login_env: None) -> None:
    identity, recipient = age_key
    assert add_sops_cluster(fleet, recipient).returncode == 0
    proc = run_cli(
        "add-cluster",
        "cluster-4",
        "--from",
        "cluster-1",
        "--registry",
        "registry.b.example.com",
        "--registry-credentials",
        "sops",
        "--age-recipient",
        recipient,
        "--repo",
        str(fleet),
    )
    assert proc.returncode == 0, proc.stderr
    other = fleet / "overlays/cluster-4/registry-credentials/pull-secret-prefect.sops.yaml"
    before = other.read_bytes()
    proc = run_cli("generate", "--rotate-registry-credentials", "harbor.example.com", "--repo", str(fleet))
    assert proc.returncode == 0, proc.stderr
    assert other.read_bytes() == before  # registry B's credential is not replaced by registry A's login
    assert decrypted_config(other.read_text(), identity)["auths"].keys() == {"registry.b.example.com"}
    proc = run_cli("generate", "--registry-password-stdin", "--repo", str(fleet))
    assert proc.returncode == 2 and "--rotate-registry-credentials" in proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry-credentials\n  namespace: prefect\n"
            "stringData: {PASSWORD_JSON}\n",
            "is not a mapping",
        ),
        (
            'apiVersion: v1\nkind: Secret\nstringData:\n  .dockerconfigjson: \'{"password":"{PASSWORD}"}\n  x: [\n',
            "not valid YAML at line",
        ),
        ("a: " + "[" * 5000 + "\n", "nested deeper"),
    ],
)
def test_broken_pull_secret_files_never_echo_their_content(
    fleet: Path, age_key: tuple[str, str], login_env: None, content: str, message: str
) -> None:
    assert add_sops_cluster(fleet, age_key[1]).returncode == 0
    text = content.replace("{PASSWORD_JSON}", json.dumps(PASSWORD)).replace("{PASSWORD}", PASSWORD)
    (fleet / CREDS / "pull-secret-prefect.sops.yaml").write_text(text)
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("validate", str(fleet), "--offline", "--format", "json", "--cluster", "cluster-3")
    assert PASSWORD not in proc.stdout + proc.stderr


def test_deeply_nested_intent_is_an_input_error(fleet: Path) -> None:
    (fleet / "intent/clusters/cluster-1.yaml").write_text("a: " + "[" * 50000 + "\n")
    proc = run_cli("generate", "--check", "--repo", str(fleet))
    assert proc.returncode == 2 and "nested deeper" in proc.stderr and "internal error" not in proc.stderr
