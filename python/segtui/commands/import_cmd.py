"""``segtui import {line-items,costs,events,accounts} FILE...``"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from segtui.errors import DataError
from segtui.presets import KINDS, TARGETS, parse_map, presets_for


def _preset_help() -> str:
    lines = []
    for kind in KINDS:
        names = ", ".join(p.name for p in presets_for(kind))
        lines.append(f"  {kind}: {names}")
    return "\n".join(lines)


EPILOG = f"""\b
Presets:
{_preset_help()}

\b
Targets (the columns --map can fill):
""" + "\n".join(f"  {k}: {', '.join(v)}" for k, v in TARGETS.items()) + """

\b
Examples:
  segtui import line-items orders.csv
  segtui import line-items Online_Retail.csv --preset online-retail
  segtui import line-items export.csv --map account_id=Customer,occurred_at=Date,amount=Total
  segtui import line-items sales.csv --delimiter ';' --date-format %d/%m/%Y --encoding latin1
  segtui import line-items sales.csv --delimiter ';' --decimal-comma
  segtui import costs costs.parquet --format json
  segtui import accounts crm.jsonl

\b
Exit codes: 0 all rows imported (or recognised as already there); 1 some rows were rejected
(they are kept in the store's rejects table) or a file could not be imported; 2 bad options.
"""


def _money(minor: int, scale: int) -> str:
    if scale == 0:
        return f"{minor:,}"
    sign = "-" if minor < 0 else ""
    a = abs(minor)
    p = 10**scale
    return f"{sign}{a // p:,}.{a % p:0{scale}d}"


def _table(s: dict[str, Any]) -> str:
    out = []
    head = f"{s['file']}  ({s['kind']}, preset {s['preset']})"
    if s["status"] == "already_imported":
        out.append(f"{head}: already imported as import #{s['previous_import_id']}; skipped, nothing changed")
        return "\n".join(out)
    if s["status"] == "empty":
        out.append(f"{head}: empty file, nothing imported")
        return "\n".join(out)
    out.append(f"{head}  import #{s['import_id']}")
    rows = [
        ("rows read", f"{s['rows_read']:,}"),
        ("imported", f"{s['rows_imported']:,}"),
        ("duplicates", f"{s['rows_duplicate']:,}" + ("  (already in the store)" if s["rows_duplicate"] else "")),
        ("rejected", f"{s['rows_rejected']:,}"),
    ]
    for reason, n in sorted(s["rejected_by_reason"].items(), key=lambda kv: -kv[1]):
        ex = s["reject_examples"].get(reason) or {}
        col = f", column {ex['column']!r}" if ex.get("column") else ""
        rows.append((f"  {reason}", f"{n:,}   e.g. row {ex.get('row')}{col}: {ex.get('message')}"))
    if s["rows_skipped"]:
        rules = ", ".join(f"{k}: {v:,}" for k, v in s["skipped_by_rule"].items())
        rows.append(("skipped", f"{s['rows_skipped']:,}  ({rules})"))
    if s["blank_rows"]:
        rows.append(("blank rows", f"{s['blank_rows']:,}  (skipped)"))
    if s["kind"] != "costs" or s["missing_account_ids"]:
        rows.append(("missing account ids", f"{s['missing_account_ids']:,}"))
    acc = f"{s['accounts_new']:,} new, {s['accounts_seen']:,} already known"
    if s["kind"] == "accounts":
        acc += f", {s['accounts_updated']:,} updated"
    rows.append(("accounts", acc))
    cur = f" {s['currency']}" if s["currency"] else ""
    scale = s["money_scale"]
    if s["kind"] == "line-items":
        rows.append(
            ("net revenue", f"{_money(s['amount_total_minor'], scale)}{cur}  (refunds and credits {_money(s['refunds_total_minor'], scale)})")
        )
        if s["cancellations"]:
            rows.append(("cancellations", f"{s['cancellations']:,}"))
    elif s["kind"] == "costs":
        rows.append(("total cost", f"{_money(s['amount_total_minor'], scale)}{cur}"))
    elif s["kind"] == "accounts" and s["amount_total_minor"]:
        rows.append(("mrr in file", f"{_money(s['amount_total_minor'], scale)}{cur}"))
    if s["date_min"]:
        rows.append(("date range", f"{s['date_min']} .. {s['date_max']}"))
    rows.append(("speed", f"{s['rows_per_second']:,.0f} rows/s ({s['seconds']:.2f} s)"))
    width = max(len(k) for k, _ in rows)
    out.extend(f"  {k.ljust(width)}  {v}" for k, v in rows)
    return "\n".join(out)


@click.command("import", epilog=EPILOG)
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--preset", default=None, help="Named column mapping (default: generic).")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="TARGET=SOURCE,...",
    help="Map target columns to the file's columns (repeatable; overrides the preset).",
)
@click.option("--delimiter", default=",", show_default=True, help="CSV field separator (one character, or 'tab').")
@click.option(
    "--date-format",
    default=None,
    help="How dates are written, e.g. %d/%m/%Y, mm/dd/yyyy HH:MM, epoch, epoch_ms (default: ISO 8601 or epoch seconds).",
)
@click.option("--encoding", default="utf8", show_default=True, help="Text encoding of CSV files (utf8, latin1, cp1252, ...).")
@click.option(
    "--decimal-comma",
    is_flag=True,
    help="Numbers are written with a decimal comma (12,50); a '.' in a number is then refused.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Summary format.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_obj
def import_cmd(
    settings: Any,
    kind: str,
    files: tuple[Path, ...],
    preset: str | None,
    maps: tuple[str, ...],
    delimiter: str,
    date_format: str | None,
    encoding: str,
    decimal_comma: bool,
    fmt: str,
    quiet: bool,
) -> None:
    """Import line items, costs, product events or accounts from CSV, Parquet or JSON lines files.

    Each file is one transaction: a failed or interrupted import leaves the store as it was. A file
    already imported with the same options is skipped; rows already in the store (an overlapping
    export) are counted as duplicates, not added again. Rows that cannot be used are kept in the
    store's rejects table with their row number, column and reason.
    """
    from segtui.importer import import_files, summary_document

    mapping = parse_map(list(maps))
    summaries = import_files(
        settings.db,
        kind,
        list(files),
        preset=preset,
        mapping=mapping,
        date_format=date_format,
        delimiter=delimiter,
        encoding=encoding,
        quiet=quiet or settings.quiet,
        decimal_comma=decimal_comma,
    )
    if fmt == "json":
        sys.stdout.write(json.dumps(summary_document(summaries), indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write("\n\n".join(_table(s.as_dict()) for s in summaries) + "\n")
    sys.stdout.flush()
    rejected = sum(s.rows_rejected for s in summaries)
    if rejected:
        reasons: dict[str, int] = {}
        for s in summaries:
            for r, n in s.rejected_by_reason.items():
                reasons[r] = reasons.get(r, 0) + n
        detail = ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        ids = ", ".join(f"#{s.import_id}" for s in summaries if s.rows_rejected)
        raise DataError(
            f"{rejected:,} rows rejected ({detail}); the rest was imported. The rejected rows are kept in the "
            f"store's rejects table (import {ids}) with row number, column and reason: fix them in the file "
            "and import it again (rows already imported are recognised, not doubled)."
        )


COMMANDS = [import_cmd]
