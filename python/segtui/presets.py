"""Named column-mapping presets for well-known export shapes.

A preset says which source column feeds each target column of an import kind (the data
contract's names: ``account_id``, ``occurred_at``, ``amount`` ...), plus how to read that shape:
its date format, the prefix that marks a cancelled invoice, and rows to skip. ``--map`` entries
override a preset's columns one by one. See ``docs/import.md`` for every preset's columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from segtui.errors import ConfigError

KINDS = ("line-items", "costs", "events", "accounts")

#: Target columns of each kind, in display order.
TARGETS: dict[str, tuple[str, ...]] = {
    "line-items": (
        "account_id", "occurred_at", "amount", "quantity", "unit_price",
        "invoice_id", "sku", "description", "currency",
    ),
    "costs": ("occurred_at", "category", "amount", "account_id", "driver_units", "currency"),
    "events": ("account_id", "occurred_at", "event", "value"),
    "accounts": (
        "account_id", "name", "industry", "employees", "region", "plan",
        "signup_at", "renewal_at", "mrr", "seats", "seat_limit", "currency",
    ),
}

#: Targets that must be mapped (line items also need amount, or quantity and unit_price).
REQUIRED: dict[str, tuple[str, ...]] = {
    "line-items": ("account_id", "occurred_at"),
    "costs": ("occurred_at", "category", "amount"),
    "events": ("account_id", "occurred_at", "event"),
    "accounts": ("account_id",),
}


@dataclass(frozen=True)
class Preset:
    """How one export shape maps onto an import kind."""

    name: str
    kind: str
    description: str
    #: target -> source column name in the export
    columns: Mapping[str, str]
    date_format: str | None = None
    #: invoices whose id starts with this are cancellations (credits)
    cancel_prefix: str | None = None
    #: source column -> values (case-insensitive) whose rows are skipped and counted
    skip: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _generic(kind: str, description: str) -> Preset:
    return Preset("generic", kind, description, {t: t for t in TARGETS[kind]})


_PRESETS: list[Preset] = [
    _generic(
        "line-items",
        "Columns named as the data contract: account_id, occurred_at, amount (or quantity and "
        "unit_price), invoice_id, sku, description, currency.",
    ),
    Preset(
        "online-retail",
        "line-items",
        "The UCI Online Retail export: InvoiceNo, StockCode, Description, Quantity, InvoiceDate "
        "(month/day/year hour:minute), UnitPrice, CustomerID, Country. Amount = Quantity x UnitPrice; "
        "invoices starting with C are cancellations. Country is kept in rejects' raw rows only.",
        {
            "account_id": "CustomerID",
            "occurred_at": "InvoiceDate",
            "invoice_id": "InvoiceNo",
            "sku": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "unit_price": "UnitPrice",
        },
        date_format="%m/%d/%Y %H:%M",
        cancel_prefix="C",
    ),
    Preset(
        "online-retail-ii",
        "line-items",
        "The UCI Online Retail II export: Invoice, StockCode, Description, Quantity, InvoiceDate "
        "(ISO date and time), Price, Customer ID, Country. Invoices starting with C are cancellations.",
        {
            "account_id": "Customer ID",
            "occurred_at": "InvoiceDate",
            "invoice_id": "Invoice",
            "sku": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "unit_price": "Price",
        },
        cancel_prefix="C",
    ),
    Preset(
        "subscription-invoices",
        "line-items",
        "A billing system's invoice export, one row per invoice: invoice_number, customer_id, "
        "customer_name, invoice_date (ISO), period_start, period_end, plan, seats, currency, subtotal, "
        "tax, total, status. Revenue is the subtotal (tax excluded); credit notes carry a negative "
        "subtotal; rows with status void or draft are skipped and counted.",
        {
            "account_id": "customer_id",
            "occurred_at": "invoice_date",
            "invoice_id": "invoice_number",
            "sku": "plan",
            "quantity": "seats",
            "amount": "subtotal",
            "currency": "currency",
        },
        skip={"status": ("void", "draft")},
    ),
    _generic(
        "costs",
        "occurred_at, category, amount, account_id (empty = a pooled cost), driver_units, currency.",
    ),
    _generic("events", "account_id, occurred_at, event, value."),
    _generic(
        "accounts",
        "account_id, name, industry, employees, region, plan, signup_at, renewal_at, mrr, seats, "
        "seat_limit, currency.",
    ),
]

PRESETS: dict[tuple[str, str], Preset] = {(p.kind, p.name): p for p in _PRESETS}


def presets_for(kind: str) -> list[Preset]:
    return [p for p in _PRESETS if p.kind == kind]


def get_preset(kind: str, name: str | None) -> Preset:
    """The preset ``name`` for ``kind`` (``generic`` when None)."""
    key = (kind, name or "generic")
    if key not in PRESETS:
        names = ", ".join(p.name for p in presets_for(kind))
        raise ConfigError(f"no preset {name!r} for {kind}: choose one of {names}")
    return PRESETS[key]


def parse_map(entries: Sequence[str] | str | None) -> dict[str, str]:
    """``["target=source,target=source", ...]`` -> ``{target: source}``."""
    if not entries:
        return {}
    if isinstance(entries, str):
        entries = [entries]
    out: dict[str, str] = {}
    for entry in entries:
        for part in entry.split(","):
            if not part.strip():
                continue
            target, sep, source = part.partition("=")
            if not sep or not target.strip() or not source.strip():
                raise ConfigError(f"--map expects target=source, got {part!r}")
            out[target.strip()] = source.strip()
    return out


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "_", name.strip().lower())


def resolve_mapping(
    kind: str,
    preset: Preset,
    overrides: Mapping[str, str],
    columns: Sequence[str],
    file_label: str,
) -> dict[str, str]:
    """The final ``{target: source}`` for a file with ``columns``.

    Preset columns absent from the file are left out unless required; ``--map`` sources must
    exist. A source matches exactly, else by a unique case- and separator-insensitive match
    (``Customer ID`` = ``customer_id``).
    """
    targets = TARGETS[kind]
    for t in overrides:
        if t not in targets:
            raise ConfigError(f"{kind} imports have no column {t!r}: targets are {', '.join(targets)}")
    by_norm: dict[str, list[str]] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), []).append(c)

    def find(source: str) -> str | None:
        if source in columns:
            return source
        hits = by_norm.get(_norm(source), [])
        return hits[0] if len(hits) == 1 else None

    mapping: dict[str, str] = {}
    for target, source in {**preset.columns, **overrides}.items():
        found = find(source)
        if found is not None:
            mapping[target] = found
        elif target in overrides:
            raise ConfigError(
                f"{file_label}: --map {target}={source}: no column {source!r}; the columns are: {', '.join(columns)}"
            )
    missing = [t for t in REQUIRED[kind] if t not in mapping]
    if kind == "line-items" and "amount" not in mapping and not {"quantity", "unit_price"} <= mapping.keys():
        missing.append("amount (or quantity and unit_price)")
    if missing:
        wanted = ", ".join(f"{t} (preset {preset.name}: {preset.columns.get(t.split()[0], '-')!r})" for t in missing)
        raise ConfigError(
            f"{file_label}: no column for {wanted}; the file has: {', '.join(columns)}. "
            f"Use --map target=source or another --preset."
        )
    return mapping
