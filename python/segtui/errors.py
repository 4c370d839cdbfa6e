"""Errors that segtui reports to users as one clear line (never a traceback)."""

from __future__ import annotations


class SegtuiError(Exception):
    """Base class: the message is shown as is; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class StoreError(SegtuiError):
    """The store cannot be opened, migrated or written (busy, newer schema, missing)."""


class DataError(SegtuiError):
    """Input data was refused (wholly or in part); the message says what to fix."""


class ConfigError(SegtuiError):
    """``segtui.toml`` or a command-line setting is malformed; the message names the key."""

    exit_code = 2
