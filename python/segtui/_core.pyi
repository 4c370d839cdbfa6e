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
