"""Classes of problems a reviewer sees by eye (issue 12): a HelmRelease without a chart version and semver
ranges that admit pre-releases (H005, warnings), a chart password committed in a HelmRelease's values (S007),
enum values the API server refuses (K009, see its fixtures)."""

from __future__ import annotations

from pathlib import Path

from conftest import shared

from gitopsgen.validate import engine
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Severity

REPO = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: charts
  namespace: default
spec:
  interval: 1h
  url: https://charts.example.invalid
"""
RELEASE = """\
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: default
spec:
  interval: 1h
  chart:
    spec:
      chart: postgresql{version}
      sourceRef:
        kind: HelmRepository
        name: charts
  values:
    postgresql:
      auth:
        password: "s3cr3t-Passw0rd"
"""


def test_unpinned_prerelease_and_plaintext_password(tmp_path: Path) -> None:
    text = REPO + "".join(
        RELEASE.format(name=n, version=v)
        for n, v in (("none", ""), ("rc", '\n      version: ">=15.0.0-0"'), ("ga", '\n      version: ">=15.0.0"'))
    )
    (tmp_path / "clusters" / "c1").mkdir(parents=True)
    (tmp_path / "clusters" / "c1" / "db.yaml").write_text(text)
    settings = Settings(crds=(shared("flux-crds"),), offline=True, chart_cache=tmp_path / "charts", cache=False)
    result = engine.validate(tmp_path, settings)
    h005 = {f.object: (f.line, f.severity, f.message) for f in result.findings if f.rule == "H005"}
    assert h005["HelmRelease default/none"][:2] == (19, Severity.WARNING)  # at chart: (no version line)
    assert "(latest) is not pinned" in h005["HelmRelease default/none"][2]
    assert "admits pre-releases" in h005["HelmRelease default/rc"][2]
    assert "pre-release" not in h005["HelmRelease default/ga"][2]
    s007 = sorted((f.line, f.severity) for f in result.findings if f.rule == "S007")
    passwords = [i for i, line in enumerate(text.splitlines(), 1) if "password:" in line]
    assert s007 == [(line, Severity.WARNING) for line in passwords] and len(passwords) == 3, result.findings
