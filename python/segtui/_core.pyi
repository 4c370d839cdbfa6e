"""Type stub for ``segtui._core``, the compiled Rust core.

Columns cross the boundary without per-row Python objects: numeric inputs are contiguous
buffer-protocol objects (numpy arrays), text inputs are ``TextSpec`` tuples made by
``segtui._columns.text_column``; outputs are :class:`Column` objects (buffer protocol).
"""

from collections.abc import Buffer, Callable
from os import PathLike
from pathlib import Path
from typing import Any

__version__: str
SCHEMA_VERSION: int

TextSpec = tuple[Buffer | None, Buffer, Buffer | None, int, int]

def schema_migrations() -> list[tuple[int, str]]:
    """The store's forward migrations ``[(version, sql), ...]``, oldest first."""

class Column(Buffer):
    """A Rust-owned column lent to Python through the buffer protocol (read-only)."""

    @property
    def dtype(self) -> str:
        """``int64``, ``int32``, ``uint32``, ``uint8`` or ``float64``."""
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

# --- importer (segtui.importer) -------------------------------------------------------------

import os

class ImportStoreError(Exception):
    """The store cannot be used (busy, wrong schema, I/O)."""

class ImportUsageError(Exception):
    """Options or columns do not fit the file (a missing mapped column, a bad date format)."""

class ImportDataError(Exception):
    """The file cannot be imported as a whole (unreadable structure, one currency per store)."""

class Importer:
    """One file's import: one SQLite transaction from construction to ``commit``/``rollback``.

    ``kind`` is ``line-items``, ``costs``, ``events`` or ``accounts``; ``options_json`` is the
    canonical options document (``mapping`` target -> source column, ``date_format``,
    ``cancel_prefix``, ``skip``; other keys are recorded only). A file already imported with the
    same fingerprint and options is not opened: ``already_imported`` is then set.
    """

    def __init__(self, db_path: str | os.PathLike[str], kind: str, file: str, fingerprint: str, options_json: str) -> None: ...
    @property
    def already_imported(self) -> tuple[int, str | None, str | None] | None:
        """``(import_id, finished_at, summary_json)`` of the earlier import, else None."""
    @property
    def import_id(self) -> int: ...
    @property
    def data_version(self) -> int:
        """``meta.data_version`` as seen inside this import's transaction."""
    def expect_rows(self, n: int) -> bool:
        """Announce the row count before the first batch; True when secondary indexes are deferred."""
    def add_bad_records(self, bad: list[tuple[int, str, str, str, str | None]], blank: list[int]) -> None:
        """Rows a structural pass could not read (row, reason, message, raw text, the column at
        fault when the problem lies in one field) and blank rows."""
    def add_batch(self, columns: dict[str, TextSpec], first_row: int) -> None:
        """Every column of the batch by source name; ``first_row`` = rows given before. Releases the GIL."""
    def stats_json(self) -> str:
        """Counts so far as JSON (the core half of the import summary)."""
    def rebuild_indexes(self) -> None: ...
    def commit(self, summary_json: str) -> int:
        """Record the import, bump ``meta.data_version`` if anything changed, commit; returns the data version."""
    def rollback(self) -> None: ...

Chunks = list[tuple[int, int, int]]

def scan_csv(
    path: str | os.PathLike[str], delimiter: str = ",", quote: str = '"', chunk_rows: int = 200_000
) -> tuple[str, int, list[str], int, list[tuple[int, str, str, str, str | None]], list[int], Chunks]:
    """Structural pass: ``(sha256, bytes, header, records, bad, blank, chunks)``; ``chunks`` are
    ``(start, end, rows)`` byte ranges of at most ``chunk_rows`` data records."""

def scan_ndjson(
    path: str | os.PathLike[str], chunk_rows: int = 200_000
) -> tuple[str, int, list[str], int, list[tuple[int, str, str, str, str | None]], list[int], Chunks]:
    """Structural pass over JSON lines: ``(sha256, bytes, keys, records, bad, blank, chunks)``."""

def write_clean_csv(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    drop: list[int],
    delimiter: str = ",",
    quote: str = '"',
    chunk_rows: int = 200_000,
) -> tuple[int, Chunks]:
    """Copy without the ``drop`` rows: ``(rows written, chunks of the copy)``."""

def write_clean_lines(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], drop: list[int], chunk_rows: int = 200_000
) -> tuple[int, Chunks]: ...
def sha256_file(path: str | os.PathLike[str]) -> str: ...
def parse_date(text: str, fmt: str | None = None) -> tuple[int, int]:
    """``(day, ts)``: days since 1970-01-01 as written, Unix seconds. ValueError names the reason code."""

def check_date_format(fmt: str) -> str: ...
def parse_money(text: str, digits: int = 2, round: bool = False) -> int:
    """Exact decimal text -> minor units (``round``: half to even, else it must fit exactly)."""

def invoice_key(invoice: str | None) -> int:
    """The stable 64-bit key stored in ``line_items.invoice_key`` (0 for none)."""

# --- scoring engine (segtui.scoring) ----------------------------------------------------------

class ScoreConfigError(ValueError):
    """The scoring configuration is invalid. The message starts with the dotted key:
    ``rfm.window_days: expected a positive integer, got -3``."""

class ScoreInputError(ValueError):
    """The scoring input columns are inconsistent (length, index out of range, missing or
    unknown column); the message names the column and, where it applies, the row."""

def default_config_json() -> str:
    """The design's default scoring configuration as canonical JSON (sorted keys, complete)."""

def canonical_config_json(config_json: str) -> str:
    """Validate ``config_json`` (a JSON object; absent keys keep their defaults) and return the
    complete configuration as canonical JSON: hash it for a fingerprint. Raises
    :class:`ScoreConfigError` naming the key."""

def release_scoring_memory() -> int:
    """Free the buffers the scoring kernel keeps between runs (its scratch memory and the
    memory of result columns Python has freed; the next run, or the next date of a series,
    reuses them); returns the bytes freed. Call it after scoring in a long-lived process."""

def score_columns(
    line_items: dict[str, Buffer],
    costs: dict[str, Buffer],
    events: dict[str, Buffer],
    accounts: dict[str, Buffer],
    n_accounts: int,
    cost_categories: list[str],
    event_kinds: list[str],
    as_of_day: int,
    config_json: str,
) -> dict[str, Any]:
    """Score every account as of ``as_of_day`` (days since 1970-01-01); GIL released throughout.

    Columns are C-contiguous buffers (numpy arrays) of exactly these dtypes, borrowed without
    copying; accounts are the dense index ``accounts.id - 1``. An empty dict is a table with no
    rows; unknown column names are rejected.

    - ``line_items``: ``account`` uint32, ``day`` int32, ``amount`` int64 (minor units, negative =
      refund), optional ``invoice_key`` int64 (0 = no invoice: the purchase is the account-day).
    - ``costs``: ``account`` int64 (-1 = pooled), ``day`` int32, ``category`` uint32 (index into
      ``cost_categories``), ``amount`` int64, optional ``driver_units`` int64 (``-2**63`` = null).
    - ``events``: ``account`` uint32, ``day`` int32, ``kind`` uint32 (index into ``event_kinds``).
    - ``accounts``: each optional, length ``n_accounts``: ``employees``, ``mrr``, ``seats``,
      ``seat_limit`` int64 (``-2**63`` = null); ``signup_day``, ``renewal_day`` int32 (``-2**31`` =
      null).

    Returns ``{"as_of_day": int, "columns": {...}, "labels": {...}, "pools": [...],
    "timings": [(phase, seconds), ...]}``:

    - ``columns``: one :class:`Column` per field, one row per account with any line item or
      cost on or before the as-of day (saas mode: or any event), ascending ``account``:
      ``account`` uint32; ``recency_days`` int64 (``-2**63`` = no purchase); ``frequency``,
      ``monetary`` int64; ``r_score``, ``f_score``, ``m_score`` uint8 (0 = no purchase);
      ``rfm_segment``, ``rfm5_segment`` uint8 codes (0 = "No Purchase"); ``revenue``,
      ``direct_cost``, ``allocated_cost``, ``margin`` int64 minor units; ``margin_pct`` float64
      (NaN when revenue <= 0); ``quadrant`` uint8 (0 = outside the quadrant population);
      ``churn_risk`` uint8 0-100; ``churn_band`` uint8; ``churn_reasons`` uint32 bit set over
      ``labels["churn_reasons"]``; ``health`` uint8 0-100; ``health_band``, ``lifecycle``,
      ``tier`` (0 = no events in the store), ``size_band`` (0 = unknown employees) uint8 codes.
    - ``labels``: for each code column (and ``churn_reasons``), the list mapping code -> label
      (``""`` for the null codes).
    - ``pools``: per pooled cost category with rows in the window: ``{"category", "driver",
      "pooled", "allocated", "unallocated"}`` (int minor units; allocated + unallocated == pooled).
    - ``timings``: wall seconds of the kernel's phases, in order (diagnostics only).

    Raises :class:`ScoreConfigError` or :class:`ScoreInputError`. Definitions: docs/scoring.md.
    """

# --- store reads and snapshot writes ---------------------------------------------------------
#
# Errors: a data problem is ValueError, a missing store or snapshot FileNotFoundError, a busy
# store TimeoutError, any other store failure OSError (segtui.queries / segtui.scoring turn them
# into DataError / StoreError). Every call releases the GIL.

def read_inputs(db: str, *, cache: bool = True) -> dict[str, Any]:
    """Every scoring input of the store at ``db`` (all dates), through the column cache
    ``<db>.cols`` when ``cache`` (used when fresh, brought up to date when the store only grew,
    rebuilt otherwise). Keys: ``n_accounts`` (dense index range, ``accounts.id - 1``),
    ``data_version``, ``report`` (``cache``: hit | appended | rebuilt | off, ``cache_reason``,
    ``cache_path``, ``cache_bytes``, ``cache_error``, ``seconds_stamp``, ``seconds_read``,
    ``seconds_cache_write``), ``cost_categories`` and ``event_kinds`` (names by index), and
    Columns: ``li_account`` uint32, ``li_day`` int32, ``li_amount`` int64, ``li_invoice_key``
    int64, ``cost_account`` int64 (-1 = pooled), ``cost_day`` int32, ``cost_category`` uint32,
    ``cost_amount`` int64, ``cost_driver_units`` int64, ``ev_account`` uint32, ``ev_day`` int32,
    ``ev_kind`` uint32, ``acc_employees`` / ``acc_mrr`` / ``acc_seats`` / ``acc_seat_limit`` int64,
    ``acc_signup_day`` / ``acc_renewal_day`` int32 (missing = the int64 / int32 minimum)."""

def read_columns(
    db: str, sql: str, params: list[int | float | str | None], kinds: list[str], capacity: int = 0
) -> list[tuple[str, str, Column, Column | None, Column | None, int, int]]:
    """Run one fixed read-only query (segtui's own SQL; values only as ``params``) and return
    its columns: ``(name, kind, data, offsets, validity, length, null_count)``; kind ``int``
    (data int64), ``real`` (float64) or ``text`` (data: uint8 UTF-8 bytes, offsets: int64, Arrow
    large_string layout); validity is an Arrow bitmap (uint8) or None without nulls. ``kinds``
    gives each result column's kind; a value of another type is a ValueError naming row and
    column."""

def read_columns_many(
    db: str, queries: list[tuple[str, list[int | float | str | None], list[str], int]]
) -> list[list[tuple[str, str, Column, Column | None, Column | None, int, int]]]:
    """Several ``(sql, params, kinds, capacity)`` queries at once, each on its own connection
    and thread; one column list per query (as :func:`read_columns`)."""

def score_store(
    db: str,
    *,
    as_of_days: list[int],
    config_json: str,
    config_fp: str,
    created_at: str,
    cache: bool = True,
    series: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load the store once, score each day of ``as_of_days`` (days since 1970-01-01; empty =
    the latest line item's day) and write one snapshot per day, each in one transaction that
    replaces the snapshot with the same (as-of, mode, ``config_fp``). ``progress`` receives
    plain lines. Returns ``mode``, ``data_version``, ``rows`` (line_items, costs, events,
    accounts), ``load`` (as ``read_inputs``'s report), ``seconds_load``, ``seconds_total`` and
    ``snapshots``: per day ``id``, ``replaced`` (ids), ``as_of_day``, ``accounts``,
    ``net_revenue``, ``pooled_cost``, ``allocated_cost``, ``unallocated_cost`` (minor units),
    ``seconds`` (as recorded), ``seconds_score``, ``seconds_write``."""

def cache_path(db: str | PathLike[str]) -> Path:
    """The column cache of the store at ``db`` (``<db>.cols``)."""

def account_pool_shares(db: str | PathLike[str], snapshot: int, account_id: int) -> list[tuple[str, int]]:
    """Account ``account_id``'s (``accounts.id``) share of each pooled cost category of snapshot
    ``snapshot``, in minor units, in the snapshot's pool order: ``[(category, share), ...]``.
    Empty when the account is not in the snapshot or the snapshot keeps no shares (written
    before schema v5). Reads eight bytes per pool. Raises ``RuntimeError`` for a missing store."""


# --- history (segtui.history) ----------------------------------------------------------------

from collections.abc import Callable, Mapping  # noqa: E402

def migration_matrix(db_path: str, a: int, b: int, map: str = "rfm11", effective: bool = False) -> dict[str, list]:
    """The from × to matrix between snapshots ``a`` and ``b`` over ``map``: keys ``labels``,
    ``rows``, ``cols`` (labels, ``(new)`` / ``(gone)`` last) and the non-empty cells as parallel
    lists ``from``, ``to``, ``accounts``, ``revenue_a``, ``revenue_b``. ``effective`` reads the
    stored effective (hysteresis) segments for the RFM maps."""

def migration_cell(
    db_path: str, a: int, b: int, from_label: str, to_label: str, map: str = "rfm11", effective: bool = False
) -> tuple[Column, Column, Column]:
    """The accounts of one cell: ``(account ids uint32, revenue_a int64, revenue_b int64)``."""

def migration_chain(db_path: str, ids: list[int], map: str = "rfm11", effective: bool = False) -> list[dict[str, list]]:
    """The matrices between consecutive snapshots of ``ids`` (each read once), shaped like
    :func:`migration_matrix`'s result."""

def history_pack(db_path: str, ids: list[int], wait_ms: int = 100) -> int | None:
    """Pack the columns history reads for the snapshots of ``ids`` lacking fresh ones; how many
    were packed, or ``None`` when the store stayed busy for ``wait_ms``."""

def hysteresis_refresh(db_path: str, k: int) -> dict[str, int]:
    """Bring the stored effective segments of every chain up to date for ``k`` (``<= 1`` = none);
    returns ``{"chains", "computed", "held"}``."""

def cohorts_columns(
    account: Buffer, day: Buffer, amount: Buffer, invoice_key: Buffer, n_accounts: int, as_of_day: int, by: str = "month"
) -> dict:
    """Cohorts over line-item columns (uint32 dense account, int32 day, int64 amount, int64
    invoice key): the long table as columns ``cohort`` (list), ``period`` (int32), ``complete``
    (uint8), ``accounts``, ``active``, ``revenue`` (int64), ``logo_retention``,
    ``revenue_retention`` (float64, NaN = undefined), plus ``as_of_day``,
    ``no_purchase_accounts``, ``revenue_before_cohort``."""

def cohorts_store(db_path: str, as_of_day: int | None = None, by: str = "month") -> dict:
    """:func:`cohorts_columns` over the store's line items (as of the latest line item's day)."""

def series_days(by: str, since: int, until: int) -> list[int]:
    """The last day of every ``by`` period (week, month, quarter) ending within ``since..=until``."""

def period_label(by: str, day: int) -> str:
    """``2025-02`` (month), ``2025-Q1`` (quarter) or the week's Monday, for the period of ``day``."""

def score_series_columns(
    line_items: Mapping[str, Buffer],
    costs: Mapping[str, Buffer],
    events: Mapping[str, Buffer],
    accounts: Mapping[str, Buffer],
    n_accounts: int,
    cost_categories: list[str],
    event_kinds: list[str],
    as_of_days: list[int],
    config_json: str,
    each: Callable[[dict[str, Any]], object] | None = None,
) -> list[dict[str, Any]]:
    """A snapshot series over the inputs of :func:`score_columns`: every day of ``as_of_days``
    (strictly ascending) scored from one preparation of the rows (day order, merged line
    items). Each result is exactly what :func:`score_columns` returns for that day; with
    ``each`` the results go to it one by one (and the list is empty), else they are returned."""

# --- rules (segtui.rules) ---------------------------------------------------------------------

class RuleError(ValueError):
    """A rule that does not compile; ``args`` = (message, index, line, column, length)."""

RuleWarningTuple = tuple[str, int, int, int]  # (message, line, column, length)

def rules_parse(rules: list[str]) -> list[list[str]]:
    """Syntax check; the metric names each rule mentions. Raises :class:`RuleError`."""

def rules_check(
    rules: list[str], metrics: list[tuple[str, str]], event_kinds: list[str] | None = None
) -> list[tuple[list[RuleWarningTuple], list[str] | None, int | None, bool]]:
    """Compile against ``[(name, unit)]`` (unit: int, money:N, float, percent, ratio, day, text,
    bool; percent = a share stored in points, ratio = a share stored as a fraction, both
    written in percent in rules).

    Per rule: (warnings, event kinds it reads or None for all, longest window in days or None
    for all history, whether it reads events at all).
    """

def rules_read_events(
    db: str, kinds: list[str] | None, max_window: int | None, as_of_day: int
) -> tuple[Column, Column, Column, list[str]]:
    """Events of the store on or before ``as_of_day``: (account uint32 = id - 1, day int32,
    kind uint32 index into the returned names)."""

def rules_evaluate(
    rules: list[str],
    n_rows: int,
    account: Buffer | None,
    columns: list[tuple[str, str, Buffer | TextSpec | tuple[Buffer, list[str]], Buffer | None, bool]],
    events: tuple[Buffer, Buffer, Buffer] | None,
    event_kinds: list[str],
    as_of_day: int,
) -> tuple[list[Column], list[list[RuleWarningTuple]]]:
    """Every rule over every row in one pass: one uint8 (0/1) column per rule, and warnings.

    ``columns``: (name, unit, values, validity uint8 or None, per_account); values are int64
    (int, money:N), float64 (float, percent, ratio; NaN = missing), int32 (day), uint8 (bool),
    and for text a text spec or ``(codes uint32, labels)`` with ``2**32 - 1`` = missing.
    ``account``: uint32 dense index per row, or None when row i is account i.
    """
