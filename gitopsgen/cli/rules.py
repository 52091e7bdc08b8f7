"""``gitopsgen rules [ID]``: the validator's rule catalogue, as text or JSON."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

import click

from ..errors import InputError


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("rule_id", required=False)
def list_rules(fmt: str, rule_id: str | None) -> None:
    """The validator's rules: ID, name, default severity and documentation."""
    from ..validate.catalogue import RULES as rules

    selected = [rules[k] for k in sorted(rules)]
    if rule_id:
        selected = [r for r in selected if r.id == rule_id.upper() or r.name == rule_id]
        if not selected:
            raise InputError(f"no rule {rule_id} (see 'gitopsgen rules')")
    if fmt == "json":
        click.echo(json.dumps({"rules": [{**asdict(r), "severity": r.severity.value} for r in selected]}, indent=2))
        return
    for r in selected:
        click.echo(f"{r.id}  {r.name}  [{r.stage}, {r.severity.value}]")
        click.echo(f"      {r.summary}")
        if rule_id:
            click.echo("")
            click.echo(textwrap.fill(r.doc, width=100, initial_indent="      ", subsequent_indent="      "))
