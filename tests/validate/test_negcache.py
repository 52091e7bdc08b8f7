"""Unfetchable charts do not poison the cache: a failed fetch is remembered for a while (:mod:`.negcache`).

Online, with the result cache: the first run tries the chart repository (it cannot be reached: a name
under ``.invalid``), reports H007 and remembers the failure; a second run within the time-out takes the
cluster's outcome from the cache — same findings, nothing built — and a run after it tries again.
``--no-cache`` neither reads nor writes any of it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from gitopsgen.validate import engine, negcache
from gitopsgen.validate.charts import ChartFetcher, ChartRequest, ChartUnavailable
from gitopsgen.validate.clustercache import ClusterOutcome, cacheable
from gitopsgen.validate.config import Settings
from gitopsgen.validate.findings import Finding
from gitopsgen.validate.resultcache import ResultCache

pytestmark = pytest.mark.slow

UNFETCHABLE = Path(__file__).parent / "fixtures" / "H007" / "fail"


def test_a_failed_fetch_is_remembered_and_the_cluster_outcome_kept(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "repo"
    shutil.copytree(UNFETCHABLE, root)
    settings = Settings(chart_cache=tmp_path / "charts", ignore=("expect.yaml",))
    # a result cache of its own: another test of this worker may have remembered the same chart's failure
    # (for the default 10 minutes) in the session's cache, which this run would then read
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(negcache, "TTL", 2.0)
    first = engine.validate(root, settings)
    h007 = [f for f in first.findings if f.rule == "H007"]
    assert h007 and first.stats["clusters_cached"] == 0
    second = engine.validate(root, settings)
    assert second.findings == first.findings
    assert second.stats["clusters_cached"] == 1
    time.sleep(2.1)  # the failure is forgotten: the cluster is built and the chart tried again
    third = engine.validate(root, settings)
    assert third.stats["clusters_cached"] == 0 and third.findings == first.findings
    without = engine.validate(root, Settings(chart_cache=tmp_path / "charts", ignore=("expect.yaml",), cache=False))
    assert without.findings == first.findings and "clusters_cached" not in without.stats


def test_the_fetcher_answers_from_the_negative_cache(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "results")
    request = ChartRequest("https://charts.example.invalid/x", "x", "1.0.0")
    fetcher = ChartFetcher(tmp_path / "charts")
    fetcher.negative = negcache.NegativeCache(cache)
    with pytest.raises(ChartUnavailable) as first:
        fetcher.fetch(request)
    later = ChartFetcher(tmp_path / "charts")  # a later run: nothing in memory
    later.negative = negcache.NegativeCache(cache)
    later._fetch = None  # type: ignore[assignment,method-assign]  # it must not be tried
    with pytest.raises(ChartUnavailable) as again:
        later.fetch(request)
    assert str(again.value) == str(first.value)
    assert later.negative.expires is not None and later.negative.expires > time.time()
    expired = negcache.NegativeCache(cache, clock=lambda: time.time() + negcache.TTL + 1)
    assert expired.get(("chart", "https://charts.example.invalid/x", "x", "1.0.0", "", False)) is None


def test_what_a_remembered_failure_makes_storable() -> None:
    """H007, and H005 when no floating chart was rendered (nothing was resolved); never H001 or a rendered
    floating chart, and offline the chart cache's listing decides as before."""
    outcome = ClusterOutcome("c", [Finding("f", 1, "H005", "m"), Finding("f", 2, "H007", "m")])
    assert not cacheable(outcome) and cacheable(outcome, remembered=True)
    outcome.floating = True
    assert not cacheable(outcome, remembered=True)
    assert not cacheable(ClusterOutcome("c", [Finding("f", 1, "H001", "m")]), remembered=True)
