"""segtui: living customer segments from line items, costs and product events."""

from __future__ import annotations

__all__ = ["__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("segtui")
except Exception:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"
