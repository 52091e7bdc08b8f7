"""Helm charts for the Helm stage: version constraints, resolution, download, cache, mirrors, archive safety.

A :class:`ChartRequest` names a chart the way Flux does (a HelmRepository URL plus chart name, or an
OCI reference) and a version or Masterminds semver constraint. :class:`ChartFetcher` resolves it
against the repository's ``index.yaml`` (HTTP) or tag list (OCI), downloads the archive once into a
cache keyed by sha256(url, chart, resolved version), verifies the index digest, and refuses archives
whose members could escape the chart or that are too large. Offline, only the cache (and local
directory mirrors) are used; the repository index / tag list is cached as well so constraints still
resolve. Nothing from the archive is executed, and nothing here loads it into Helm: rendering is
:mod:`gitopsgen.validate.helmrender`'s job.

Owns rule H001 (chart-unresolvable); the lead emits it from :class:`ChartError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..atomicfile import atomic_write
from .chartarchive import MAX_ARCHIVE_BYTES, ChartError, check_archive
from .chartversions import _is_constraint, _newest, is_exact_version, resolve_version
from .findings import Rule, Severity
from .hosts import HostPolicy, HostRefused
from .negcache import NegativeCache
from .resultcache import cache_root

H001 = Rule(
    id="H001",
    name="chart-unresolvable",
    stage="helm",
    severity=Severity.ERROR,
    summary="A HelmRelease's chart cannot be resolved, downloaded or trusted.",
    doc=(
        "Flux's source-controller must turn a HelmRelease's chart reference into an archive before "
        "helm-controller can install anything: the HelmRepository index (or OCI tag list) must name the "
        "chart, a version must satisfy the requested version or semver constraint (pre-releases only when "
        "the constraint names one), the download must match the digest the index publishes, and the archive "
        "must be a plain chart (no members with absolute paths, '..', links leaving the chart, or an "
        "unreasonable size). Any failure here leaves the HelmRelease not Ready with no objects applied. "
        "In offline mode, a chart missing from the chart cache is reported here as well."
    ),
)

MAX_INDEX_BYTES = 200 * 1024 * 1024
_USER_AGENT = "gitopsgen-validate"


class ChartUnavailable(ChartError):
    """A chart could not be fetched at all (offline and not cached, no network, a private registry): nothing
    is known about it, so it is not a problem of the repository (H007, not H001)."""


@dataclass(frozen=True)
class ChartRequest:
    """One chart as Flux's source-controller would fetch it."""

    url: str  # HelmRepository spec.url (https://… or oci://registry/path) or OCIRepository spec.url (oci://…)
    chart: str  # chart name; "" for an OCIRepository, whose url is the chart itself
    version: str  # exact version or Masterminds constraint; "" or "*" = latest; for OCI a tag or constraint
    digest: str = ""  # OCI manifest digest ("sha256:…", OCIRepository spec.ref.digest); wins over version
    insecure: bool = False  # OCI over plain HTTP (HelmRepository/OCIRepository spec.insecure)


# ---------------------------------------------------------------- cache and fetching


def default_cache_dir() -> Path:
    """``$GITOPSGEN_CACHE_DIR`` or ``$XDG_CACHE_HOME/gitopsgen`` or ``~/.cache/gitopsgen``, then ``charts/``."""
    return cache_root() / "charts"


def _norm(url: str) -> str:
    return url.strip().rstrip("/")


def _local_dir(mirror: str) -> Path | None:
    """The directory of a local mirror (a path or file:// URL), None for a remote one."""
    if mirror.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(mirror).path))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", mirror):
        return None
    return Path(mirror).expanduser()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)[:120] or "_"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class ChartFetcher:
    """Resolves and downloads charts into a cache; thread-safe; each request is resolved once per fetcher."""

    def __init__(
        self,
        cache_dir: Path,
        mirrors: dict[str, str] | None = None,
        offline: bool = False,
        timeout: float = 30,
        hosts: HostPolicy | None = None,
    ) -> None:
        """``hosts``: the allow/deny list for URLs that do not go to a mirror (None: no check, for callers
        whose URLs are not a repository's)."""
        self.cache_dir = Path(cache_dir)
        self.hosts = hosts
        self.mirrors = {_norm(k): v if _local_dir(v) is not None else _norm(v) for k, v in (mirrors or {}).items()}
        self.offline = offline
        self.timeout = timeout
        self._lock = threading.Lock()
        self._locks: dict[object, threading.Lock] = {}
        self._results: dict[object, Path | ChartError] = {}  # request → archive, or the ChartError
        self._indexes: dict[str, dict[str, Any] | ChartError] = {}  # repository → index entries, or the ChartError
        self.negative: NegativeCache | None = None  # failed fetches remembered across runs (online only)

    # -- public

    def fetch(self, req: ChartRequest) -> Path:
        """The cached ``.tgz`` of the chart ``req`` names; raises :class:`ChartError` (one-line message)."""
        key = ("chart", _norm(req.url), req.chart, req.version.strip(), req.digest, req.insecure)
        with self._once(key):
            done = self._results.get(key)
            remembered = self.negative.get(key) if done is None and self.negative is not None else None
            if remembered is not None:  # failed a moment ago (:mod:`.negcache`): not tried again yet
                done = ChartUnavailable(remembered)
            elif done is None:
                try:
                    done = self._fetch(req)
                except ChartUnavailable as exc:
                    done = exc
                    if self.negative is not None:
                        self.negative.put(key, str(exc))
                except ChartError as exc:
                    done = exc
            self._results[key] = done
        if isinstance(done, ChartError):
            raise type(done)(str(done))
        return done

    # -- plumbing

    def _once(self, key: object) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _fetch(self, req: ChartRequest) -> Path:
        url = _norm(req.url)
        if url.startswith("oci://"):
            return self._fetch_oci(req)
        if url.startswith(("http://", "https://")):
            if not req.chart:
                raise ChartError(f"no chart name given for repository {url}")
            return self._fetch_http(req)
        raise ChartError(f"unsupported chart repository URL {req.url!r} (want https://, http:// or oci://)")

    def _archive_path(self, url: str, chart: str, version: str) -> Path:
        key = hashlib.sha256("\0".join((url, chart, version)).encode()).hexdigest()
        name = chart or url.rsplit("/", 1)[-1]
        return self.cache_dir / key[:2] / key / f"{_safe_name(name)}-{_safe_name(version)}.tgz"

    def _index_cache(self, url: str, suffix: str) -> Path:
        return self.cache_dir / "index" / f"{hashlib.sha256(url.encode()).hexdigest()}.{suffix}"

    # -- HTTP repositories

    def _fetch_http(self, req: ChartRequest) -> Path:
        url, chart, wanted = _norm(req.url), req.chart, req.version.strip()
        if is_exact_version(wanted):
            cached = self._archive_path(url, chart, wanted)
            if cached.is_file():
                return cached
        mirror = self.mirrors.get(url)
        local = _local_dir(mirror) if mirror else None
        where = f"{url}/index.yaml" + (f" (mirror {mirror})" if mirror else "")
        entries = self._http_index(url, mirror)
        versions = entries.get(chart)
        if not versions:
            raise ChartError(
                f"chart {chart} not found in {where} (charts: {', '.join(sorted(entries)[:10]) or 'none'})"
            )
        by_version = {str(e.get("version", "")): e for e in versions if isinstance(e, dict)}
        try:
            resolved = resolve_version(wanted, by_version)
        except ValueError as exc:
            raise ChartError(f"chart {chart}: invalid version constraint {wanted!r}: {exc}") from None
        if resolved is None:
            raise ChartError(f"chart {chart} {wanted or '*'} not found in {where} (versions: {_newest(by_version)})")
        target = self._archive_path(url, chart, resolved)
        if target.is_file():
            return target
        if self.offline and local is None:
            raise ChartUnavailable(f"chart {chart} {resolved} from {url} is not in the chart cache (offline)")
        entry = by_version[resolved]
        urls = entry.get("urls")
        if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
            raise ChartError(f"chart {chart} {resolved} in {where} has no download URL")
        digest = str(entry.get("digest") or "").removeprefix("sha256:").lower()
        what, link = f"{chart} {resolved}", urls[0]
        if local is not None:
            parsed = urllib.parse.urlparse(link)
            source = (
                local / urllib.parse.unquote(PurePosixPath(parsed.path).name if parsed.scheme else link)
            ).resolve()
            if not source.is_relative_to(local.resolve()):
                raise ChartError(f"chart {what}: index URL {link!r} leaves mirror directory {local}")
            return self._produce(target, lambda: self._store_file(source, target, digest, what))
        if mirror and urllib.parse.urlparse(link).scheme:
            link = PurePosixPath(urllib.parse.urlparse(link).path).name  # a mirror serves its own copies
        source_url = urllib.parse.urljoin((mirror or url) + "/", link)
        return self._produce(target, lambda: self._download(source_url, target, digest, what))

    def _produce(self, target: Path, produce: Callable[[], None]) -> Path:
        """Run ``produce`` to write ``target`` unless it exists; one writer per target at a time."""
        with self._once(("archive", target)):
            if not target.is_file():
                produce()
        return target

    def _http_index(self, url: str, mirror: str | None) -> dict[str, Any]:
        with self._once(("index", url)):
            done = self._indexes.get(url)
            if done is None:
                try:
                    done = self._load_http_index(url, mirror)
                except ChartError as exc:
                    done = exc
                self._indexes[url] = done
        if isinstance(done, ChartError):
            raise type(done)(str(done))
        return done

    def _load_http_index(self, url: str, mirror: str | None) -> dict[str, Any]:
        local = _local_dir(mirror) if mirror else None
        cache = self._index_cache(url, "yaml")
        if local is not None:
            source = local / "index.yaml"
            if not source.is_file():
                raise ChartError(f"mirror directory {local} for {url} has no index.yaml")
            data = source.read_bytes()
            where = str(source)
        elif self.offline:
            if not cache.is_file():
                raise ChartUnavailable(f"index of {url} is not in the chart cache (offline)")
            data = cache.read_bytes()
            where = f"{url}/index.yaml (cached)"
        else:
            where = f"{mirror or url}/index.yaml"
            data = self._get(where, MAX_INDEX_BYTES)
            atomic_write(cache, data)
        loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar a str: "1.10" stays "1.10"
        try:
            index = yaml.load(data, Loader=loader)
        except yaml.YAMLError as exc:
            raise ChartError(f"invalid index {where}: {_one_line(exc)}") from None
        entries = index.get("entries") if isinstance(index, dict) else None
        if not isinstance(entries, dict):
            raise ChartError(f"invalid index {where}: no entries")
        return {str(k): v for k, v in entries.items() if isinstance(v, list)}

    def _mirrored(self, url: str) -> bool:
        return any(url.startswith(m) for m in self.mirrors.values() if _local_dir(m) is None)

    def _check_host(self, url: str) -> None:
        """ChartError when ``url`` (not a mirror's) names a denied host."""
        if self.hosts is not None and not self._mirrored(url):
            try:
                self.hosts.check(url)
            except HostRefused as exc:
                raise ChartError(f"cannot fetch {url}: {exc}") from None

    def _get(self, url: str, limit: int) -> bytes:
        self._check_host(url)
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        opener = urllib.request.build_opener(_CheckedRedirects(self._check_host))
        try:
            with opener.open(request, timeout=self.timeout) as resp:
                data: bytes = resp.read(limit + 1)
        except ChartError:
            raise
        except urllib.error.HTTPError as exc:
            error = ChartError if exc.code == 404 else ChartUnavailable  # 401/403: private; 5xx: down
            raise error(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ChartUnavailable(f"cannot fetch {url}: {_one_line(reason)}") from None
        if len(data) > limit:
            raise ChartError(f"cannot fetch {url}: larger than {limit // (1024 * 1024)} MB")
        return data

    def _download(self, url: str, target: Path, digest: str, what: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ChartError(f"chart {what}: unsupported download URL {url!r}")
        data = self._get(url, MAX_ARCHIVE_BYTES)
        self._store_bytes(data, target, digest, what, url)

    def _store_file(self, source: Path, target: Path, digest: str, what: str) -> None:
        if not source.is_file():
            raise ChartError(f"chart {what}: {source} not found in mirror")
        if source.stat().st_size > MAX_ARCHIVE_BYTES:
            raise ChartError(f"chart {what}: {source.name} is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
        self._store_bytes(source.read_bytes(), target, digest, what, str(source))

    def _store_bytes(self, data: bytes, target: Path, digest: str, what: str, origin: str) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if digest and actual != digest:
            raise ChartError(f"chart {what}: digest mismatch for {origin} (index sha256:{digest}, got sha256:{actual})")
        atomic_write(target, data, suffix=".tgz", check=check_archive)

    # -- OCI

    def _fetch_oci(self, req: ChartRequest) -> Path:
        """OCI: a digest pin wins over the tag (as in Flux's OCIRepository); else an exact tag, or the highest
        tag matching the constraint. Cached under the repository's own reference, whatever the mirror."""
        base = _norm(req.url)
        ref = f"{base}/{req.chart}" if req.chart else base
        name = ref.rsplit("/", 1)[-1]
        wanted = req.version.strip()
        local: Path | None = None
        if ref in self.mirrors:  # the chart's own reference mirrored
            local = _local_dir(self.mirrors[ref])
            ref = ref if local is not None else self.mirrors[ref]
        elif base in self.mirrors:  # the repository mirrored
            local = _local_dir(self.mirrors[base])
            ref = ref if local is not None else f"{self.mirrors[base]}/{req.chart}" if req.chart else self.mirrors[base]
        literal = bool(wanted) and (is_exact_version(wanted) or not _is_constraint(wanted))
        pinned = req.digest or (wanted if literal else "")
        if pinned:  # names one artifact: the cache may already hold it
            cached = self._archive_path(base, req.chart, pinned)
            if cached.is_file():
                return cached
        if local is not None:
            return self._oci_from_dir(req, local, name, wanted)
        if not self.offline and ref == (f"{base}/{req.chart}" if req.chart else base):  # not mirrored
            self._check_host(ref.removeprefix("oci://"))
        if not pinned:
            tags = self._oci_tags(ref, req.insecure)
            try:
                pinned = resolve_version(wanted, [t.replace("_", "+") for t in tags]) or ""
            except ValueError as exc:
                raise ChartError(f"chart {name}: invalid version constraint {wanted!r}: {exc}") from None
            if not pinned:
                raise ChartError(f"chart {name} {wanted or '*'} not found in {ref} (tags: {_newest(tags)})")
        target = self._archive_path(base, req.chart, pinned)
        if target.is_file():
            return target
        if self.offline:
            raise ChartUnavailable(f"chart {name} {pinned} from {ref} is not in the chart cache (offline)")
        return self._produce(target, lambda: self._oci_pull(ref, pinned, req.insecure, target))

    def _oci_from_dir(self, req: ChartRequest, local: Path, name: str, wanted: str) -> Path:
        prefix = f"{name}-"
        found = {p.name[len(prefix) : -len(".tgz")]: p for p in local.glob(f"{prefix}*.tgz")}
        try:
            resolved = resolve_version(wanted, found)
        except ValueError as exc:
            raise ChartError(f"chart {name}: invalid version constraint {wanted!r}: {exc}") from None
        if resolved is None:
            raise ChartError(
                f"chart {name} {wanted or '*'} not found in mirror directory {local} (versions: {_newest(found)})"
            )
        target = self._archive_path(_norm(req.url), req.chart, resolved)
        return self._produce(target, lambda: self._store_file(found[resolved], target, "", f"{name} {resolved}"))

    def _oci_tags(self, ref: str, insecure: bool) -> list[str]:
        with self._once(("tags", ref)):
            done = self._indexes.get(ref)
            if done is None:
                try:
                    done = {"tags": self._load_oci_tags(ref, insecure)}
                except ChartError as exc:
                    done = exc
                self._indexes[ref] = done
        if isinstance(done, ChartError):
            raise type(done)(str(done))
        return list(done["tags"])

    def _load_oci_tags(self, ref: str, insecure: bool) -> list[str]:
        cache = self._index_cache(ref, "tags.json")
        if self.offline:
            if not cache.is_file():
                raise ChartUnavailable(f"tags of {ref} are not in the chart cache (offline)")
            return [str(t) for t in json.loads(cache.read_text())]
        import helm_python

        try:
            with helm_python.RegistryClient(plain_http=insecure) as client:
                tags = [str(t) for t in client.tags(ref)]
        except helm_python.HelmError as exc:
            error = ChartError if "not found" in str(exc).lower() else ChartUnavailable
            raise error(f"cannot list tags of {ref}: {_one_line(exc)}") from None
        atomic_write(cache, json.dumps(tags).encode())
        return tags

    def _oci_pull(self, ref: str, pinned: str, insecure: bool, target: Path) -> None:
        import helm_python

        by_digest = pinned.startswith("sha256:")
        what = f"{ref}@{pinned}" if by_digest else f"{ref}:{pinned}"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.cache_dir))
        try:
            with helm_python.RegistryClient(plain_http=insecure) as client:
                helm_python.pull(
                    what if by_digest else ref,
                    client=client,
                    version=None if by_digest else pinned,
                    destination=tmp,
                    plain_http=insecure,
                )
            pulled = sorted(tmp.glob("*.tgz"))
            if len(pulled) != 1:
                raise ChartError(f"chart {what}: pull produced {len(pulled)} archives")
            self._store_file(pulled[0], target, "", what)
        except helm_python.HelmError as exc:
            error = ChartError if "not found" in str(exc).lower() else ChartUnavailable
            raise error(f"cannot pull {what}: {_one_line(exc)}") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a host the policy allows (a public host may redirect to 127.0.0.1)."""

    def __init__(self, check: Callable[[str], None]) -> None:
        self.check = check

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
