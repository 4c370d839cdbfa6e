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

# --- rules (segtui.rules) ---------------------------------------------------------------------

class RuleError(ValueError):
    """A rule that does not compile; ``args`` = (message, index, line, column, length)."""

RuleWarningTuple = tuple[str, int, int, int]  # (message, line, column, length)

def rules_parse(rules: list[str]) -> list[list[str]]:
    """Syntax check; the metric names each rule mentions. Raises :class:`RuleError`."""

def rules_check(
    rules: list[str], metrics: list[tuple[str, str]], event_kinds: list[str] | None = None
) -> list[tuple[list[RuleWarningTuple], list[str] | None, int | None, bool]]:
    """Compile against ``[(name, unit)]`` (unit: int, money:N, float, day, text, bool).

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
    columns: list[tuple[str, str, Buffer | TextSpec, Buffer | None, bool]],
    events: tuple[Buffer, Buffer, Buffer] | None,
    event_kinds: list[str],
    as_of_day: int,
) -> tuple[list[Column], list[list[RuleWarningTuple]]]:
    """Every rule over every row in one pass: one uint8 (0/1) column per rule, and warnings.

    ``columns``: (name, unit, values, validity uint8 or None, per_account); values are int64
    (int, money:N), float64 (float, NaN = missing), int32 (day), uint8 (bool) or a text spec.
    """
