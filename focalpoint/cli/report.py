"""``focalpoint report``: the indicators of a calendar year or quarter (docs/indicators.md), and
the ageing report of what is open now (docs/operators.md, the ageing report).

An auditor gets the national outputs, suppressed, for a period that has ended; a case officer
with ``--unit`` gets the exact dashboard of their own unit. As a readable table per indicator
(with its method statement and whether suppression applied), as JSON (one object per indicator)
or as CSV (one row per table entry and figure).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from focalpoint.cases.disclosure import CSV_HEADER
from focalpoint.cases.indicators import definition
from focalpoint.cli._local import call

__all__ = ["ageing_rows", "report"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def report() -> None:
    """Indicators computed from this node's own case events (docs/indicators.md)."""


@report.command("indicators")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--period", required=True, help="A calendar year (2026) or quarter (2026Q3), UTC.")
@click.option("--unit", "unit_dashboard", is_flag=True, help="Your own unit's dashboard (case officers; exact).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per indicator, one a line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV: one row per table entry and figure.")
def report_indicators(config_path: Path, period: str, unit_dashboard: bool, as_json: bool, as_csv: bool) -> None:
    """The indicators I1–I12 for PERIOD: national and suppressed (auditors), or --unit."""
    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv, not both")
    response = call(config_path, lambda c: c.get_indicators(period, unit_dashboard=unit_dashboard))
    outputs = [json.loads(raw) for raw in response.outputs_json]
    if as_json:
        for o in outputs:
            click.echo(json.dumps(o, sort_keys=True, ensure_ascii=False))
    elif as_csv:
        click.echo(csv_text(outputs), nl=False)
    else:
        click.echo("\n\n".join(text(o) for o in outputs))
    if response.unreadable_links:
        click.echo(f"{response.unreadable_links} link(s) could not be read and are not counted", err=True)


@report.command("ageing")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--view",
    type=click.Choice(["unit", "routing", "bilateral", "audit"]),
    default="unit",
    show_default=True,
    help="unit: your unit (case officers); routing, bilateral: operators; audit: auditors.",
)
@click.option("--json", "as_json", is_flag=True, help="The view as one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV: one row per request or link, or per figure.")
def report_ageing(config_path: Path, view: str, as_json: bool, as_csv: bool) -> None:
    """Open requests and links by age: your unit's, the routing list, per partner, or suppressed."""
    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv, not both")
    response = call(config_path, lambda c: c.get_ageing(view))
    data = json.loads(response.report_json)
    if as_json:
        click.echo(json.dumps(data, sort_keys=True, ensure_ascii=False))
    else:
        header, rows = ageing_rows(data)
        if as_csv:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            click.echo(buffer.getvalue(), nl=False)
        else:
            widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
            for line in (header, *rows):
                click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    if response.unreadable_links:
        click.echo(f"{response.unreadable_links} link(s) could not be read and are not counted", err=True)


def ageing_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """A view's header and rows: the row views' columns, or the aggregate views in long form
    (partner, request kind or stage, measure, value)."""
    if "rows" in data:
        header = list(data["rows"][0]) if data["rows"] else ["reference"]
        return header, [[_value(r.get(c)) for c in header] for r in data["rows"]]
    out: list[list[str]] = []
    for entry in data["requests"]:
        out += _flat(entry["partner"], entry["kind"], entry, ("partner", "kind"))
    for entry in data["links"]:
        out += _flat(entry["partner"], "", {k: v for k, v in entry.items() if k != "stages"}, ("partner",))
        for stage, figures in entry["stages"].items():
            out += _flat(entry["partner"], stage, figures, ())
    return ["partner", "group", "measure", "value"], out


def _flat(partner: str, group: str, entry: dict[str, Any], skip: tuple[str, ...]) -> list[list[str]]:
    out: list[list[str]] = []
    for name, value in entry.items():
        if name in skip:
            continue
        if isinstance(value, dict):
            out += [[partner, group, f"{name}.{k}", _value(v)] for k, v in value.items()]
        else:
            out.append([partner, group, name, _value(value)])
    return out


def _value(v: object) -> str:
    return "" if v is None else str(v)


def _entries(table: dict[str, Any]) -> list[tuple[str, str, str, str, object]]:
    dims = table["dimensions"]
    rows, cols = dims[0], dims[1] if len(dims) == 2 else None
    out: list[tuple[str, str, str, str, object]] = []
    for i, rv in enumerate(rows["values"]):
        for j, cell in enumerate(table["cells"][i]):
            out.append((rows["name"], rv, cols["name"] if cols else "", cols["values"][j] if cols else "", cell))
        if cols is not None:
            out.append((rows["name"], rv, cols["name"], "TOTAL", table["row_totals"][i]))
    if cols is not None:
        for j, cv in enumerate(cols["values"]):
            out.append((rows["name"], "TOTAL", cols["name"], cv, table["column_totals"][j]))
    out.append((rows["name"], "TOTAL", cols["name"] if cols else "", "TOTAL" if cols else "", table["total"]))
    return out


def csv_text(outputs: list[dict[str, Any]]) -> str:
    """The outputs as one CSV document (the header once; docs/indicators.md, what an output holds)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for o in outputs:
        head = [
            o["definition_id"],
            str(o["definition_version"]),
            o["code_list_version"],
            o["period"],
            o["node_id"],
            o["measure"],
            "true" if o["suppressed"] else "false",
            "true" if o["exempt"] else "false",
        ]
        for name, table in o["tables"].items():
            for entry in _entries(table):
                writer.writerow([*head, name, "table", *entry[:4], _value(entry[4]), table["counted"]])
        for f in o["figures"]:
            writer.writerow([*head, f["name"], f["kind"], "", "", "", "", _value(f["value"]), f["unit"]])
    return buffer.getvalue()


def text(o: dict[str, Any]) -> str:
    """One output as a readable block: what it is, its method, whether suppression applied, then
    its tables and figures."""
    try:
        d = definition(o["definition_id"])
        title, method = d.title, d.method
    except KeyError:
        title, method = "", "(a definition this client does not know)"
    if o["exempt"]:
        control = f"own unit {o['unit_id']}: exact counts, not for publication"
    else:
        control = "suppression applied (<10: withheld)" if o["suppressed"] else "no suppression needed"
    lines = [
        f"{o['definition_id']} {title} — {o['period']}, node {o['node_id']}, {o['measure']}, "
        f"definition v{o['definition_version']}, code list {o['code_list_version']}",
        f"  method: {method}",
        f"  {control}",
    ]
    for name, table in o["tables"].items():
        lines.append(f"  {name} ({table['counted']}):")
        dims = table["dimensions"]
        if len(dims) == 1:
            for value, cell in zip(dims[0]["values"], table["cells"], strict=True):
                lines.append(f"    {value:<28} {_value(cell[0]):>6}")
        else:
            cols = dims[1]["values"]
            lines.append("    " + " " * 28 + "".join(f"{c[:12]:>13}" for c in cols) + f"{'TOTAL':>8}")
            for value, row, total in zip(dims[0]["values"], table["cells"], table["row_totals"], strict=True):
                cells = "".join(f"{_value(c):>13}" for c in row)
                lines.append(f"    {value:<28}{cells}{_value(total):>8}")
            totals = "".join(f"{_value(c):>13}" for c in table["column_totals"])
            lines.append(f"    {'TOTAL':<28}{totals}{_value(table['total']):>8}")
            continue
        lines.append(f"    {'TOTAL':<28} {_value(table['total']):>6}")
    for f in o["figures"]:
        value = "not published" if f["value"] is None else f"{f['value']}{' ' + f['unit'] if f['unit'] else ''}"
        lines.append(f"  {f['name']}: {value}")
    return "\n".join(lines)
