"""``gitopsgen doctor``: is this machine and repository ready — like ``flux check --pre``.

Each check returns a :class:`Check` (ok, warn or fail, with one line saying what was found and, when it is not
ok, what to do). The checks do real work: a kustomize build of a one-file kustomization, the schema store of the
configured Kubernetes version with every CRD source the validator uses, a chart fetch through the configured
mirrors and cache, git's identity and remote.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"
FLUX_KINDS = (
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
    ("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation"),
    ("notification.toolkit.fluxcd.io/v1beta3", "Alert"),
    ("external-secrets.io/v1", "ExternalSecret"),
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}"


def check_kustomize() -> Check:
    from .validate.kustomize import kustomize_command

    try:
        command = kustomize_command()
    except FileNotFoundError as exc:
        return Check("kustomize", FAIL, str(exc))
    with tempfile.TemporaryDirectory(prefix="gitopsgen-doctor-") as tmp:
        (Path(tmp) / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
        (Path(tmp) / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: doctor}\n")
        try:
            proc = subprocess.run([*command, tmp], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Check("kustomize", FAIL, f"{command[0]} did not run: {exc}")
    if proc.returncode != 0 or "name: doctor" not in proc.stdout:
        return Check("kustomize", FAIL, f"{' '.join(command[:2])} failed: {proc.stderr.strip()[:200]}")
    return Check("kustomize", OK, f"{' '.join(command[:2])} builds")


def check_schemas(root: Path, settings: Any) -> Check:
    from .errors import InputError
    from .validate.load import load_repository
    from .validate.workspace import schema_store

    try:
        store = schema_store(root, settings, load_repository(root, settings.ignore).documents)
    except InputError as exc:
        return Check("schemas", FAIL, str(exc))
    missing = [kind for api, kind in FLUX_KINDS if not store.has_schema(api, kind)]
    what = f"Kubernetes {settings.kubernetes_version}"
    if missing:
        return Check(
            "schemas",
            WARN,
            f"{what}; no CRD for {', '.join(missing)}: run 'gitopsgen validate --crds DIR' once with the Flux and "
            "External Secrets CRDs (kept in the CRD cache), or commit the CRDs to the repository",
        )
    return Check("schemas", OK, f"{what}, Flux and External Secrets CRDs known")


def check_charts(root: Path, settings: Any) -> Check:
    from .errors import InputError
    from .generate.intent import FLEET_FILE
    from .generate.intentfiles import load_fleet
    from .validate.chartarchive import ChartError
    from .validate.charts import ChartFetcher, ChartRequest, default_cache_dir

    if not (root / FLEET_FILE).is_file():
        return Check("charts", OK, f"no {FLEET_FILE}: charts are checked per HelmRelease by 'gitopsgen validate'")
    try:
        fleet = load_fleet(root)
    except InputError as exc:
        return Check("charts", FAIL, f"{FLEET_FILE}: {exc}")
    fetcher = ChartFetcher(settings.chart_cache or default_cache_dir(), dict(settings.helm_mirrors), settings.offline)
    for chart in ("prefect-server", "prefect-worker"):
        try:
            fetcher.fetch(ChartRequest(fleet.chart.repository, chart, fleet.chart.version))
        except ChartError as exc:
            return Check(
                "charts",
                FAIL,
                f"{exc}; give a mirror (--helm-mirror {fleet.chart.repository}=URL_OR_DIR, or helm-mirrors in "
                "the configuration, or GITOPSGEN_HELM_MIRROR in CI) or fill the chart cache (--chart-cache)",
            )
    return Check("charts", OK, f"prefect-server and prefect-worker {fleet.chart.version} from {fleet.chart.repository}")


def check_git(root: Path) -> list[Check]:
    import git

    try:
        repo = git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return [Check("git", FAIL, f"{root} is not a git repository: run 'git init' (Flux reads the fleet from git)")]
    reader = repo.config_reader()
    name = reader.get_value("user", "name", default="")
    email = reader.get_value("user", "email", default="")
    identity = (
        Check("git identity", OK, f"{name} <{email}>")
        if name and email
        else Check(
            "git identity",
            WARN,
            "no user.name/user.email: --commit and --push will refuse "
            "(git config user.name …; git config user.email …)",
        )
    )
    remotes = {r.name: list(r.urls) for r in repo.remotes}
    if not remotes:
        remote = Check("git remote", WARN, "no remote: --push needs one (git remote add origin URL)")
    else:
        remote = Check("git remote", OK, ", ".join(f"{n} {u[0] if u else '?'}" for n, u in sorted(remotes.items())))
    return [identity, remote]


def run_all(root: Path, settings: Any) -> list[Check]:
    return [check_kustomize(), check_schemas(root, settings), check_charts(root, settings), *check_git(root)]
