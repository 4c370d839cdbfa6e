"""Type stub for ``segtui._core``, the compiled Rust core.

Columns cross the boundary without per-row Python objects: numeric inputs are contiguous
buffer-protocol objects (numpy arrays), text inputs are ``TextSpec`` tuples made by
``segtui._columns.text_column``; outputs are :class:`Column` objects (buffer protocol).
"""

from collections.abc import Buffer
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
