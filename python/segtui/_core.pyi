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
    def add_bad_records(self, bad: list[tuple[int, str, str, str]], blank: list[int]) -> None:
        """Rows a structural pass could not read (row, reason, message, raw text) and blank rows."""
    def add_batch(self, columns: dict[str, TextSpec], first_row: int) -> None:
        """Every column of the batch by source name; ``first_row`` = rows given before. Releases the GIL."""
    def stats_json(self) -> str:
        """Counts so far as JSON (the core half of the import summary)."""
    def rebuild_indexes(self) -> None: ...
    def commit(self, summary_json: str) -> int:
        """Record the import, bump ``meta.data_version`` if anything changed, commit; returns the data version."""
    def rollback(self) -> None: ...

def scan_csv(
    path: str | os.PathLike[str], delimiter: str = ",", quote: str = '"'
) -> tuple[str, int, list[str], int, list[tuple[int, str, str, str]], list[int]]:
    """Structural pass: ``(sha256, bytes, header, records, bad, blank)``."""

def scan_ndjson(path: str | os.PathLike[str]) -> tuple[str, int, list[str], int, list[tuple[int, str, str, str]], list[int]]:
    """Structural pass over JSON lines: ``(sha256, bytes, [], records, bad, blank)``."""

def write_clean_csv(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], drop: list[int], delimiter: str = ",", quote: str = '"'
) -> int: ...
def write_clean_lines(src: str | os.PathLike[str], dst: str | os.PathLike[str], drop: list[int]) -> int: ...
def sha256_file(path: str | os.PathLike[str]) -> str: ...
def parse_date(text: str, fmt: str | None = None) -> tuple[int, int]:
    """``(day, ts)``: days since 1970-01-01 as written, Unix seconds. ValueError names the reason code."""

def check_date_format(fmt: str) -> str: ...
def parse_money(text: str, digits: int = 2, round: bool = False) -> int:
    """Exact decimal text -> minor units (``round``: half to even, else it must fit exactly)."""

def invoice_key(invoice: str | None) -> int:
    """The stable 64-bit key stored in ``line_items.invoice_key`` (0 for none)."""

# --- scoring engine (segtui.scoring) ----------------------------------------------------------

# --- store reads and snapshot writes ---------------------------------------------------------
