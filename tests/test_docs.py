"""The generated reference pages (docs/configuration.md, docs/rules.md) match the code; every intent field is
described."""

from __future__ import annotations

import pytest
from conftest import ROOT

from gitopsgen.docs import PAGES, undocumented, walk
from gitopsgen.generate.intent import Fleet


def test_every_intent_field_is_described() -> None:
    assert undocumented() == [], "describe these fields in gitopsgen/docs.py FIELD_DOCS"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_committed_page_is_current(page: str) -> None:
    assert (ROOT / page).read_text(encoding="utf-8") == PAGES[page](), (
        f"{page} is stale: run .venv/bin/python -m gitopsgen.docs"
    )


def test_walk_names_nested_keys_in_yaml_spelling() -> None:
    keys = [row[0] for row in walk(Fleet)]
    assert "git.fluxSource" in keys and "imageAutomation.pushBranch" in keys and "generatorVersion" in keys
