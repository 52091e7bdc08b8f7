"""Chart resolution, download, cache, mirrors and archive safety (charts.py); values schema and render (helmrender.py).

Charts come from ../shared/helm-repo, served over 127.0.0.1 by the ``helm_repo_url`` fixture; hostile
and failing charts are built with tarfile in tmp_path.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import shutil
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from conftest import serve, shared

from gitopsgen.semver import Constraint, Version
from gitopsgen.validate.catalogue import RULES
from gitopsgen.validate.chartarchive import ChartError, check_archive
from gitopsgen.validate.charts import ChartFetcher, ChartRequest, default_cache_dir
from gitopsgen.validate.chartversions import is_exact_version, resolve_version
from gitopsgen.validate.helmrender import (
    Rendered,
    RenderError,
    ValuesSchemaError,
    kube_version_string,
    render_chart,
    schema_errors,
)

PREFECT = "2026.8.18172642"
FAKE_URL = "https://charts.example.invalid/prefect"  # never resolvable: only mirrors and the cache can serve it


def _server_archive() -> Path:
    return shared("helm-repo", f"prefect-server-{PREFECT}.tgz")


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def make_chart(directory: Path, files: dict[str, str], name: str = "demo", version: str = "0.1.0") -> Path:
    """A chart archive ``<name>-<version>.tgz`` with Chart.yaml plus ``files`` (paths inside the chart)."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"{name}-{version}.tgz"
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\n"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, f"{name}/Chart.yaml", chart_yaml.encode())
        for path, text in files.items():
            _add(tar, f"{name}/{path}", text.encode())
    return archive


def write_index(directory: Path, entries: dict[str, list[dict[str, Any]]]) -> None:
    (directory / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries}))


def entry(archive: Path, name: str, version: str, digest: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "urls": [archive.name],
        "digest": digest if digest is not None else hashlib.sha256(archive.read_bytes()).hexdigest(),
    }


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("network used")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _refuse)


# ---------------------------------------------------------------- constraint matcher

VERSIONS = [
    "0.0.3",
    "0.0.4",
    "0.2.3",
    "0.2.9",
    "0.3.0",
    "1.0.0",
    "1.2.0",
    "1.2.5",
    "1.3.0",
    "1.10.0",
    "2.0.0",
    "2.1.0-rc.1",
    "2.1.0",
    "3.0.0-beta.2",
    PREFECT,
]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("", PREFECT),
        ("*", PREFECT),
        (">=1.0 <2", "1.10.0"),
        (">=1.0, <2", "1.10.0"),
        (">= 1.0 , < 2", "1.10.0"),
        ("~1.2", "1.2.5"),
        ("~>1.2", "1.2.5"),
        ("~1.2.3", "1.2.5"),
        ("~1", "1.10.0"),
        ("^1.2", "1.10.0"),
        ("^0.2.3", "0.2.9"),
        ("^0.0.3", "0.0.3"),
        ("^0.0", "0.0.4"),
        ("1.x", "1.10.0"),
        ("1.2.x", "1.2.5"),
        ("1.2.*", "1.2.5"),
        ("1.2", "1.2.5"),
        ("=1.2.0", "1.2.0"),
        ("v1.2.0", "1.2.0"),
        ("1.2 - 1.3", "1.3.0"),
        ("1.0.0 - 1.2.0", "1.2.0"),
        ("<=1.2", "1.2.5"),
        ("<1.2", "1.0.0"),
        (">1.2", PREFECT),
        (">1 <2026", "2.1.0"),
        ("<1.2 || >=2.0.0 <3", "2.1.0"),
        ("!=2.1.0 <3", "2.0.0"),
        ("!=2.x <3", "1.10.0"),
        ("2.1.0-rc.1", "2.1.0-rc.1"),  # exact string first, as Helm does
        (">=3.0.0-0 <3.1.0-0", "3.0.0-beta.2"),
        (">=3.0.0-0 <3.1", None),  # Masterminds: every AND term must name a pre-release to admit one
        (">=2.1.0-rc.0 <=2.1.0-rc.9", "2.1.0-rc.1"),
        ("~2026.8", PREFECT),
        (f"~{PREFECT}", PREFECT),
        (">=3000", None),
        ("<0.0.3", None),
    ],
)
def test_resolve_version(constraint: str, expected: str | None) -> None:
    assert resolve_version(constraint, VERSIONS) == expected


@pytest.mark.parametrize("constraint", ["*", ">=0.0.0", "!=1.0.0", "~2", "^2.0.0", "2.x", "<3"])
def test_prereleases_only_when_asked(constraint: str) -> None:
    assert not Constraint(constraint).allows(Version(2, 1, 0, "rc.1"))


@pytest.mark.parametrize("bad", [">=1.0<2", "abc", ">>1", "1.2.3.4", "~", ">=1 ||| <2", "latest"])
def test_bad_constraints(bad: str) -> None:
    with pytest.raises(ValueError, match="improper constraint"):
        Constraint(bad)


def test_version_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0"]
    parsed = [Version.parse(v) for v in ordered]
    assert all(p is not None for p in parsed)
    assert sorted(parsed, key=lambda v: v.key if v else ()) == parsed
    assert Version.parse("v2026.8.18172642") == Version(2026, 8, 18172642)
    assert Version.parse("1.2.3+build.5") is not None and Version.parse("1.2.3+b").key == Version(1, 2, 3).key  # type: ignore[union-attr]
    assert Version.parse("1.2.x") is None
    assert is_exact_version(PREFECT) and is_exact_version("v1.2.3-rc.1")
    assert not is_exact_version("1.2") and not is_exact_version("~1.2.3") and not is_exact_version("*")


# ---------------------------------------------------------------- fetching over HTTP


def test_fetch_exact_version(helm_repo_url: str, tmp_path: Path) -> None:
    fetcher = ChartFetcher(tmp_path / "cache")
    path = fetcher.fetch(ChartRequest(helm_repo_url, "prefect-server", PREFECT))
    assert path.is_file() and path.is_relative_to(tmp_path / "cache")
    assert path.name == f"prefect-server-{PREFECT}.tgz"
    assert path.read_bytes() == _server_archive().read_bytes()
    # trailing slash normalised: same cache entry
    assert fetcher.fetch(ChartRequest(helm_repo_url + "/", "prefect-server", PREFECT)) == path


@pytest.mark.parametrize("version", ["", "*", ">=2026.0.0", "~2026.8", "^2026", "2026.x", ">=1.0.0 <3000.0.0"])
def test_fetch_by_constraint(helm_repo_url: str, tmp_path: Path, version: str) -> None:
    path = ChartFetcher(tmp_path).fetch(ChartRequest(helm_repo_url, "prefect-worker", version))
    assert path.name == f"prefect-worker-{PREFECT}.tgz"


def test_unknown_version_and_chart(helm_repo_url: str, tmp_path: Path) -> None:
    fetcher = ChartFetcher(tmp_path)
    with pytest.raises(ChartError, match=rf"chart prefect-server 9\.9\.9 not found in .*index\.yaml.*{PREFECT}"):
        fetcher.fetch(ChartRequest(helm_repo_url, "prefect-server", "9.9.9"))
    with pytest.raises(ChartError, match=r"chart prefect-serverr not found .*prefect-server, prefect-worker"):
        fetcher.fetch(ChartRequest(helm_repo_url, "prefect-serverr", PREFECT))
    with pytest.raises(ChartError, match="invalid version constraint"):
        fetcher.fetch(ChartRequest(helm_repo_url, "prefect-server", ">=1.0<2"))
    with pytest.raises(ChartError, match="HTTP 404"):
        fetcher.fetch(ChartRequest(helm_repo_url + "/nowhere", "prefect-server", PREFECT))
    with pytest.raises(ChartError, match="unsupported chart repository URL"):
        fetcher.fetch(ChartRequest("ftp://example.invalid", "x", "1.0.0"))


def test_errors_are_one_line_and_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def get(self: ChartFetcher, url: str, limit: int) -> bytes:
        calls.append(url)
        raise ChartError(f"cannot fetch {url}: connection refused")

    monkeypatch.setattr(ChartFetcher, "_get", get)
    fetcher = ChartFetcher(tmp_path)
    for _ in range(3):
        with pytest.raises(ChartError) as info:
            fetcher.fetch(ChartRequest(FAKE_URL, "prefect-server", PREFECT))
        assert "\n" not in str(info.value)
    assert calls == [f"{FAKE_URL}/index.yaml"]


def test_concurrent_fetches_download_once(helm_repo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_get = ChartFetcher._get

    def counting_get(self: ChartFetcher, url: str, limit: int) -> bytes:
        calls.append(url)
        return real_get(self, url, limit)

    monkeypatch.setattr(ChartFetcher, "_get", counting_get)
    fetcher = ChartFetcher(tmp_path)
    results: list[Path] = []
    requests = [ChartRequest(helm_repo_url, "prefect-server", v) for v in (PREFECT, "*", "~2026.8")] * 4
    threads = [threading.Thread(target=lambda r=r: results.append(fetcher.fetch(r))) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(requests) and len(set(results)) == 1
    assert sorted(calls) == sorted([f"{helm_repo_url}/index.yaml", f"{helm_repo_url}/prefect-server-{PREFECT}.tgz"])


# ---------------------------------------------------------------- cache and offline mode


def test_cache_serves_later_runs_offline(helm_repo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = ChartFetcher(cache).fetch(ChartRequest(helm_repo_url, "prefect-server", "~2026"))
    monkeypatch.setattr(urllib.request, "urlopen", _refuse)
    offline = ChartFetcher(cache, offline=True)
    assert offline.fetch(ChartRequest(helm_repo_url, "prefect-server", PREFECT)) == first
    assert offline.fetch(ChartRequest(helm_repo_url, "prefect-server", ">=2026")) == first  # via the cached index
    with pytest.raises(ChartError, match=r"prefect-worker .*not in the chart cache \(offline\)"):
        offline.fetch(ChartRequest(helm_repo_url, "prefect-worker", PREFECT))
    with pytest.raises(ChartError, match=r"not in the chart cache \(offline\)"):
        offline.fetch(ChartRequest(FAKE_URL, "prefect-server", PREFECT))
    # an exact version already cached needs no index at all, even online
    assert ChartFetcher(cache).fetch(ChartRequest(helm_repo_url, "prefect-server", PREFECT)) == first


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "g"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "g" / "charts"
    monkeypatch.delenv("GITOPSGEN_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "x" / "gitopsgen" / "charts"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert default_cache_dir() == tmp_path / "h" / ".cache" / "gitopsgen" / "charts"


# ---------------------------------------------------------------- mirrors


def test_mirror_to_local_directory(tmp_path: Path, no_network: None) -> None:
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL + "/": str(shared("helm-repo"))}, offline=True)
    path = fetcher.fetch(ChartRequest(FAKE_URL, "prefect-server", "~2026"))
    assert path.read_bytes() == _server_archive().read_bytes()


def test_mirror_local_directory_absolute_urls(tmp_path: Path, no_network: None) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = shutil.copy(_server_archive(), mirror)
    item = entry(Path(archive), "prefect-server", PREFECT)
    item["urls"] = [f"https://elsewhere.example.invalid/releases/download/{Path(archive).name}"]
    write_index(mirror, {"prefect-server": [item]})
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: f"file://{mirror}"})
    assert fetcher.fetch(ChartRequest(FAKE_URL, "prefect-server", PREFECT)).is_file()


def test_mirror_to_url(helm_repo_url: str, tmp_path: Path) -> None:
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: helm_repo_url + "/"})
    path = fetcher.fetch(ChartRequest(FAKE_URL + "/", "prefect-worker", PREFECT))
    assert path.name == f"prefect-worker-{PREFECT}.tgz"
    # cached under the repository's own URL: an offline run without the mirror finds it
    assert ChartFetcher(tmp_path / "cache", offline=True).fetch(ChartRequest(FAKE_URL, "prefect-worker", "*")) == path


def test_mirror_for_oci_is_a_directory_of_archives(tmp_path: Path, no_network: None) -> None:
    mirror = tmp_path / "oci-mirror"
    mirror.mkdir()
    shutil.copy(_server_archive(), mirror)
    make_chart(mirror, {}, name="prefect-server", version="2027.1.1-rc.1")
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={"oci://ghcr.example.invalid/charts": str(mirror)})
    by_repo = fetcher.fetch(ChartRequest("oci://ghcr.example.invalid/charts", "prefect-server", ">=2026"))
    assert by_repo.read_bytes() == _server_archive().read_bytes()
    fetcher = ChartFetcher(
        tmp_path / "cache2", mirrors={"oci://ghcr.example.invalid/charts/prefect-server": str(mirror)}
    )
    by_url = fetcher.fetch(ChartRequest("oci://ghcr.example.invalid/charts/prefect-server", "", PREFECT))
    assert by_url.read_bytes() == _server_archive().read_bytes()
    with pytest.raises(ChartError, match=r"9\.9\.9 not found in mirror directory"):
        fetcher.fetch(ChartRequest("oci://ghcr.example.invalid/charts/prefect-server", "", "9.9.9"))


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Registry(http.server.BaseHTTPRequestHandler):
    """A read-only OCI distribution API holding charts/prefect-server at tags PREFECT and 1.0.0."""

    blobs: ClassVar[dict[str, bytes]] = {}
    manifest: ClassVar[bytes] = b""
    tags: ClassVar[list[str]] = []
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json", digest: str = "") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.requests.append(f"{self.command} {path}")
        repo = "/v2/charts/prefect-server/"
        last = path.rsplit("/", 1)[-1]
        if path in ("/v2", "/v2/"):
            self._send(200, b"{}")
        elif path == repo + "tags/list":
            self._send(200, json.dumps({"name": "charts/prefect-server", "tags": self.tags}).encode())
        elif path.startswith(repo + "manifests/") and last in (*self.tags, _sha(self.manifest)):
            self._send(200, self.manifest, "application/vnd.oci.image.manifest.v1+json", _sha(self.manifest))
        elif path.startswith(repo + "blobs/") and last in self.blobs:
            self._send(200, self.blobs[last], "application/octet-stream", last)
        else:
            self._send(404, b'{"errors": [{"code": "NOT_FOUND", "message": "not found"}]}')


@pytest.fixture(scope="module")
def oci_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a plain-HTTP OCI registry serving the shared prefect-server chart."""
    archive = _server_archive().read_bytes()
    config = json.dumps({"apiVersion": "v2", "name": "prefect-server", "version": PREFECT}).encode()
    layer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    _Registry.blobs = {_sha(config): config, _sha(archive): archive}
    _Registry.manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.cncf.helm.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": [{"mediaType": layer, "digest": _sha(archive), "size": len(archive)}],
        }
    ).encode()
    _Registry.tags = [PREFECT, "1.0.0"]
    with serve(_Registry) as port:
        yield f"127.0.0.1:{port}"


def test_oci_pull(oci_registry: str, tmp_path: Path) -> None:
    archive = _server_archive().read_bytes()
    fetcher = ChartFetcher(tmp_path)
    repo = f"oci://{oci_registry}/charts"
    by_constraint = fetcher.fetch(ChartRequest(repo, "prefect-server", "~2026", insecure=True))
    assert by_constraint.read_bytes() == archive
    by_tag = fetcher.fetch(ChartRequest(f"{repo}/prefect-server", "", PREFECT, insecure=True))
    assert by_tag.read_bytes() == archive
    digest = _sha(_Registry.manifest)
    by_digest = fetcher.fetch(ChartRequest(f"{repo}/prefect-server", "", "1.0.0", digest=digest, insecure=True))
    assert by_digest.read_bytes() == archive and by_digest != by_tag  # the digest wins over the tag
    with pytest.raises(ChartError, match=r"cannot pull .*@sha256:0000.*not found"):
        fetcher.fetch(ChartRequest(f"{repo}/prefect-server", "", PREFECT, digest="sha256:" + "0" * 64, insecure=True))
    with pytest.raises(
        ChartError,
        match=rf"chart prefect-server >=3000 not found in {repo}/prefect-server \(tags: {PREFECT}, 1\.0\.0\)",
    ):
        fetcher.fetch(ChartRequest(repo, "prefect-server", ">=3000", insecure=True))
    # the tag list is cached: an offline run resolves constraints without the registry
    _Registry.requests.clear()
    offline = ChartFetcher(tmp_path, offline=True)
    assert offline.fetch(ChartRequest(repo, "prefect-server", ">=2026", insecure=True)) == by_constraint
    assert offline.fetch(ChartRequest(f"{repo}/prefect-server", "", "", digest=digest)) == by_digest
    assert _Registry.requests == []


def test_oci_offline_not_cached(tmp_path: Path, no_network: None) -> None:
    fetcher = ChartFetcher(tmp_path, offline=True)
    with pytest.raises(ChartError, match=r"not in the chart cache \(offline\)"):
        fetcher.fetch(ChartRequest("oci://ghcr.example.invalid/charts", "prefect-server", PREFECT))
    with pytest.raises(ChartError, match=r"tags of .* not in the chart cache \(offline\)"):
        fetcher.fetch(ChartRequest("oci://ghcr.example.invalid/charts", "prefect-server", "~2026"))


def test_parse_mirror(tmp_path: Path) -> None:
    from gitopsgen.errors import InputError
    from gitopsgen.validate.config import parse_mirror  # the one parser of URL=MIRROR

    (tmp_path / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    assert parse_mirror(f"https://charts.example.com/={tmp_path}") == ("https://charts.example.com", str(tmp_path))
    assert parse_mirror("https://a.example=https://b.example/x") == ("https://a.example", "https://b.example/x")
    with pytest.raises(InputError, match="expected URL=MIRROR"):
        parse_mirror("https://a.example")


# ---------------------------------------------------------------- integrity and hostile archives


def test_digest_mismatch(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = Path(shutil.copy(_server_archive(), mirror))
    write_index(mirror, {"prefect-server": [entry(archive, "prefect-server", PREFECT, digest="ab" * 32)]})
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: str(mirror)})
    with pytest.raises(ChartError, match=r"digest mismatch .*sha256:abab"):
        fetcher.fetch(ChartRequest(FAKE_URL, "prefect-server", PREFECT))
    assert not list((tmp_path / "cache").rglob("*.tgz"))  # nothing cached


def test_digest_match_with_prefix(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    archive = make_chart(mirror, {"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
    item = entry(archive, "demo", "0.1.0")
    item["digest"] = "sha256:" + item["digest"]
    write_index(mirror, {"demo": [item]})
    assert (
        ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: str(mirror)})
        .fetch(ChartRequest(FAKE_URL, "demo", ""))
        .is_file()
    )


def _hostile(tmp_path: Path, add: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    archive = tmp_path / "demo-0.1.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "demo/Chart.yaml", b"apiVersion: v2\nname: demo\nversion: 0.1.0\n")
        add(tar)
    return archive


@pytest.mark.parametrize(
    ("add", "member"),
    [
        (lambda tar: _add(tar, "demo/../../evil.yaml", b"x"), "demo/../../evil.yaml"),
        (lambda tar: _add(tar, "/etc/evil.yaml", b"x"), "/etc/evil.yaml"),
        (lambda tar: _add(tar, "demo\\..\\..\\evil.yaml", b"x"), "evil.yaml"),
        (
            lambda tar: _add(tar, "demo/templates/l.yaml", type=tarfile.SYMTYPE, linkname="../../../etc/passwd"),
            "l.yaml",
        ),
        (lambda tar: _add(tar, "demo/templates/l.yaml", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "l.yaml"),
        (lambda tar: _add(tar, "demo/templates/h.yaml", type=tarfile.LNKTYPE, linkname="/etc/passwd"), "h.yaml"),
        (lambda tar: _add(tar, "demo/fifo", type=tarfile.FIFOTYPE), "demo/fifo"),
    ],
)
def test_hostile_archive_rejected(tmp_path: Path, add: Any, member: str) -> None:
    archive = _hostile(tmp_path, add)
    with pytest.raises(ChartError, match=re.escape(member)):
        check_archive(archive)
    with pytest.raises(ChartError, match=r"demo-0\.1\.0\.tgz"):
        render_chart(archive, {}, "demo", "default")


def test_links_inside_the_chart_are_fine(tmp_path: Path) -> None:
    archive = _hostile(tmp_path, lambda tar: _add(tar, "demo/values.yaml", type=tarfile.SYMTYPE, linkname="Chart.yaml"))
    check_archive(archive)


def test_size_bound(tmp_path: Path) -> None:
    archive = _hostile(tmp_path, lambda tar: _add(tar, "demo/templates/big.yaml", b"#" * 5000))
    check_archive(archive)
    with pytest.raises(ChartError, match=r"expands beyond .* at 'demo/templates/big\.yaml'"):
        check_archive(archive, max_bytes=4096)
    with pytest.raises(ChartError, match="more than 1 members"):
        check_archive(archive, max_members=1)
    not_tgz = tmp_path / "x.tgz"
    not_tgz.write_bytes(b"not a tarball")
    with pytest.raises(ChartError, match=r"not a readable \.tgz"):
        check_archive(not_tgz)


def test_hostile_archive_from_repository_is_not_cached(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    archive = _hostile(mirror, lambda tar: _add(tar, "demo/../../evil.yaml", b"x"))
    write_index(mirror, {"demo": [entry(archive, "demo", "0.1.0")]})
    fetcher = ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: str(mirror)})
    with pytest.raises(ChartError, match=r"unsafe member path 'demo/\.\./\.\./evil\.yaml'"):
        fetcher.fetch(ChartRequest(FAKE_URL, "demo", "0.1.0"))
    assert not list((tmp_path / "cache").rglob("*.tgz"))
    assert not (tmp_path / "evil.yaml").exists()


def test_index_url_leaving_local_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    archive = make_chart(tmp_path, {})
    mirror.mkdir()
    item = entry(archive, "demo", "0.1.0")
    item["urls"] = ["../demo-0.1.0.tgz"]
    write_index(mirror, {"demo": [item]})
    with pytest.raises(ChartError, match="leaves mirror directory"):
        ChartFetcher(tmp_path / "cache", mirrors={FAKE_URL: str(mirror)}).fetch(ChartRequest(FAKE_URL, "demo", "*"))


# ---------------------------------------------------------------- values schema and rendering


def test_render_prefect_server() -> None:
    values = {"fullnameOverride": "", "server": {"replicaCount": 2}}
    rendered = render_chart(_server_archive(), values, "my-prefect", "prefect")
    assert isinstance(rendered, Rendered)
    templates = [t for t, _ in rendered.objects]
    assert templates == sorted(templates)
    assert not any(t.endswith("NOTES.txt") for t in templates)
    deployments = [o for t, o in rendered.objects if o["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["my-prefect-prefect-server"]
    assert deployments[0]["metadata"]["namespace"] == "prefect"
    assert deployments[0]["spec"]["replicas"] == 2
    assert ("prefect-server/templates/deployment.yaml", deployments[0]) in rendered.objects
    # a release name containing the chart name is the fullname itself; the chart's default pins the name
    again = render_chart(_server_archive(), {"fullnameOverride": ""}, "prefect-server-blue", "prefect")
    assert [o["metadata"]["name"] for _, o in again.objects if o["kind"] == "Deployment"] == ["prefect-server-blue"]
    default = render_chart(_server_archive(), {}, "my-prefect", "prefect")
    assert [o["metadata"]["name"] for _, o in default.objects if o["kind"] == "Deployment"] == ["prefect-server"]


def test_values_schema_errors_collected() -> None:
    values = {
        "server": {"replicaCount": "three", "image": {"prefectTag": 3}},
        "postgresql": {"architecture": 5},
    }
    with pytest.raises(ValuesSchemaError) as info:
        render_chart(_server_archive(), values, "prefect-server", "prefect")
    assert info.value.errors == [
        "postgresql.architecture: got number, want string",
        "server.image.prefectTag: got number, want string",
        "server.replicaCount: got string, want integer",
    ]


def test_schema_error_parsing() -> None:
    message = (
        "values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "demo:\n- at '': missing property 'foo'\n- at '/list/0/a~1b': got number, want string\n"
        "sub:\n- at '/x': validation failed\n  - at '/x/y': value must be one of 'a', 'b'\n"
    )
    assert schema_errors(message, "demo") == [
        "(values): missing property 'foo'",
        "list[0].a/b: got number, want string",
        "sub.x.y: value must be one of 'a', 'b'",
    ]
    assert schema_errors("demo:\n- at '/a': got string,\n  want integer\n", "demo") == ["a: got string, want integer"]
    assert schema_errors("something else entirely\n", "demo") == ["(values): something else entirely"]


DEMO = {
    "values.yaml": "name: demo\ncount: 1\n",
    "values.schema.json": '{"type": "object", "required": ["name"], "properties": {"count": {"type": "integer"}}}',
    "templates/NOTES.txt": "Thanks for installing {{ .Release.Name }}",
    "templates/_helpers.tpl": '{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Values.name }}{{- end -}}',
    "templates/cm.yaml": (
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "demo.name" . }}\n'
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        '  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}\n'
        "  install: {{ .Release.IsInstall | quote }}\n  date: 2026-01-01\n"
        "---\n# only a comment\n---\n"
    ),
    "templates/fail.yaml": '{{- if .Values.boom }}{{ fail "boom: the chart refuses" }}{{- end }}',
    "templates/nil.yaml": "{{- if .Values.deref }}x: {{ .Values.missing.deeper }}{{- end }}",
    "templates/bad.yaml": "{{- if .Values.badyaml }}\napiVersion: v1\nkind: ConfigMap\n metadata: [\n{{- end }}",
    "templates/list.yaml": "{{- if .Values.list }}\n- a\n- b\n{{- end }}",
    "crds/thing.yaml": (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.x.io\n"
    ),
}


def test_render_options_and_splitting(tmp_path: Path) -> None:
    archive = make_chart(tmp_path, DEMO)
    rendered = render_chart(archive, {}, "rel", "ns", kube_version="1.31", api_versions=["monitoring.coreos.com/v1"])
    assert [t for t, _ in rendered.objects] == ["demo/templates/cm.yaml"]
    data = rendered.objects[0][1]["data"]
    assert data == {"kube": "v1.31.0", "monitoring": "true", "install": "true", "date": "2026-01-01"}
    assert rendered.objects[0][1]["metadata"]["name"] == "rel-demo"
    assert [(f, o["metadata"]["name"]) for f, o in rendered.crds] == [("demo/crds/thing.yaml", "things.x.io")]
    upgrade = render_chart(archive, {}, "rel", "ns", is_install=False)
    assert upgrade.objects[0][1]["data"]["install"] == "false"
    assert upgrade.objects[0][1]["data"]["monitoring"] == "false"
    assert kube_version_string("v1.33") == "v1.33.0" and kube_version_string("1.30.2") == "v1.30.2"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"boom": True}, r"^demo/templates/fail\.yaml:1:\d+: boom: the chart refuses$"),
        ({"deref": True}, r"^demo/templates/nil\.yaml:.*nil pointer evaluating .*deeper$"),
        ({"badyaml": True}, r"^YAML parse error on demo/templates/bad\.yaml line \d+: "),
        ({"list": True}, r"^demo/templates/list\.yaml: document 1 is a list, not a Kubernetes object$"),
    ],
)
def test_render_failures(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    archive = make_chart(tmp_path, DEMO)
    with pytest.raises(RenderError, match=message) as info:
        render_chart(archive, values, "rel", "ns")
    assert "\n" not in str(info.value)


def test_demo_schema_uses_merged_values(tmp_path: Path) -> None:
    archive = make_chart(tmp_path, DEMO)
    render_chart(archive, {}, "rel", "ns")  # "name" is required and comes from the chart's defaults
    with pytest.raises(ValuesSchemaError) as info:
        render_chart(archive, {"name": None, "count": "many"}, "rel", "ns")
    assert sorted(info.value.errors) == ["(values): missing property 'name'", "count: got string, want integer"]


def test_bad_release_name_and_unloadable_chart(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="invalid release name"):
        render_chart(_server_archive(), {}, "Not_A_Valid_Name", "ns")
    with tarfile.open(tmp_path / "nochart-0.1.0.tgz", "w:gz") as tar:
        _add(tar, "nochart/values.yaml", b"a: 1\n")
    with pytest.raises(RenderError, match=r"cannot load chart nochart-0\.1\.0\.tgz"):
        render_chart(tmp_path / "nochart-0.1.0.tgz", {}, "rel", "ns")


def test_concurrent_renders_do_not_mix_values() -> None:
    archive = _server_archive()  # in this thread: a missing ../shared skips the test here
    results: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            values = {"fullnameOverride": "", "server": {"replicaCount": i + 1}}
            rendered = render_chart(archive, values, f"r{i}", "prefect")
            results.extend(
                (o["metadata"]["name"], o["spec"]["replicas"]) for _, o in rendered.objects if o["kind"] == "Deployment"
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == sorted((f"r{i}-prefect-server", i + 1) for i in range(8))


def test_one_release_values_never_leak_into_the_next_render() -> None:
    """helm-python-sdk mutates a loaded chart while rendering: each render must load its own."""
    archive = _server_archive()
    good = {"server": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}}
    render_chart(archive, good, "prefect-server", "prefect")
    with pytest.raises(RenderError, match="required"):
        render_chart(archive, {**good, "sqlite": {"enabled": False}, "postgresql": {"enabled": False}}, "a", "prefect")
    assert render_chart(archive, good, "prefect-server", "prefect").objects


def test_rules_registered() -> None:
    for rule_id, name in (("H001", "chart-unresolvable"), ("H002", "values-schema-invalid"), ("H003", "render-failed")):
        rule = RULES[rule_id]
        assert rule.name == name and rule.stage == "helm" and rule.summary and len(rule.doc) > 200
