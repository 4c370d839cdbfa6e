"""Type stub for ``segtui._core``, the compiled Rust core.

Columns cross the boundary without per-row Python objects: numeric inputs are contiguous
buffer-protocol objects (numpy arrays), text inputs are ``TextSpec`` tuples made by
``segtui._columns.text_column``; outputs are :class:`Column` objects (buffer protocol).
"""

from collections.abc import Buffer

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

# --- scoring engine (segtui.scoring) ----------------------------------------------------------

# --- store reads and snapshot writes ---------------------------------------------------------

# --- history (segtui.history) ----------------------------------------------------------------

def migration_matrix(db_path: str, a: int, b: int, map: str = "rfm11", effective: bool = False) -> dict[str, list]:
    """The from × to matrix between snapshots ``a`` and ``b`` over ``map``: keys ``labels``,
    ``rows``, ``cols`` (labels, ``(new)`` / ``(gone)`` last) and the non-empty cells as parallel
    lists ``from``, ``to``, ``accounts``, ``revenue_a``, ``revenue_b``. ``effective`` reads the
    stored effective (hysteresis) segments for the RFM maps."""

def migration_cell(
    db_path: str, a: int, b: int, from_label: str, to_label: str, map: str = "rfm11", effective: bool = False
) -> tuple[Column, Column, Column]:
    """The accounts of one cell: ``(account ids uint32, revenue_a int64, revenue_b int64)``."""

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
