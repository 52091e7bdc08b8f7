"""The intent's chart values against the charts' values.schema.json, for the write commands.

``add-cluster`` and ``generate`` check a cluster's HelmRelease values (the base's and the overlay's,
the user's ``values`` included) with Helm itself (:func:`gitopsgen.validate.helmrender.validate_values`)
when the chart is at hand: in the chart cache or a local-directory ``helm-mirrors`` entry of the
repository's configuration. They never download: a chart not at hand is reported as not checked
(``gitopsgen validate`` fetches it and reports the same problems as H002).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..generate.render.values import ReleaseValues
from .chartarchive import ChartError
from .charts import ChartFetcher, ChartRequest, default_cache_dir
from .config import load_settings


@dataclass
class ValuesCheck:
    errors: list[str] = field(default_factory=list)  # "release: values.path: problem"
    unchecked: list[str] = field(default_factory=list)  # "chart VERSION: why"


def check(root: Path, releases: Iterable[ReleaseValues]) -> ValuesCheck:
    from .helmrender import RenderError, load_chart, validate_values

    settings = load_settings(root)
    fetcher = ChartFetcher(settings.chart_cache or default_cache_dir(), dict(settings.helm_mirrors), offline=True)
    out = ValuesCheck()
    for rv in releases:
        try:
            archive = fetcher.fetch(ChartRequest(url=rv.repository, chart=rv.chart, version=rv.version))
            errors = validate_values(load_chart(archive), rv.values)
        except (ChartError, RenderError) as exc:
            note = f"{rv.chart} {rv.version}: {exc}"
            if note not in out.unchecked:
                out.unchecked.append(note)
            continue
        out.errors.extend(f"{rv.release}: {e}" for e in errors)
    return out
