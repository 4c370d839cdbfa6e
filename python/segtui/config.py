"""The scoring configuration: ``segtui.toml`` → the engine's JSON and a fingerprint.

``segtui.toml`` lives beside the store. Its ``[scoring]`` table configures the engine (every
key is optional; absent keys keep the design's defaults, see ``docs/scoring.md``)::

    [scoring]
    mode = "transactions"            # or "saas"

    [scoring.rfm]
    window_days = 365                # frequency / monetary / cost window; absent = all history

    [scoring.costs.drivers]
    support = "events:support_ticket"
    hosting = "seats"

Other top-level tables of ``segtui.toml`` belong to other parts of segtui and are not read
here. Validation is the Rust engine's own (one source of truth): an unknown key or a bad value is
a :class:`~segtui.errors.ConfigError` naming the file and the key, e.g.
``segtui.toml: scoring.rfm.window_days: expected a positive integer, got -3``.

The fingerprint is the SHA-256 of the complete configuration in canonical JSON (sorted keys,
defaults filled in), so two files that mean the same configuration share a fingerprint and any
change to any setting — including a default changed by a new release — changes it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtui import _core
from segtui.errors import ConfigError

CONFIG_FILE = "segtui.toml"
SECTION = "scoring"
MODES = ("transactions", "saas")


@dataclass(frozen=True)
class EngineConfig:
    """A validated, complete scoring configuration."""

    json: str
    """Canonical JSON (sorted keys, every default filled in): what the engine reads."""
    fingerprint: str
    """SHA-256 hex digest of :attr:`json`."""
    source: str | None = None
    """The file it came from (``None`` for the defaults)."""

    @property
    def data(self) -> dict[str, Any]:
        """The configuration as a Python mapping."""
        return json.loads(self.json)

    @property
    def mode(self) -> str:
        return str(self.data["mode"])

    @property
    def window_days(self) -> int | None:
        w = self.data["rfm"]["window_days"]
        return None if w is None else int(w)


def _finish(canonical: str, source: str | None) -> EngineConfig:
    return EngineConfig(canonical, hashlib.sha256(canonical.encode()).hexdigest(), source)


def default_config() -> EngineConfig:
    """The design's defaults."""
    return _finish(_core.default_config_json(), None)


def config_from_mapping(
    table: dict[str, Any] | None, *, source: str = CONFIG_FILE, mode: str | None = None
) -> EngineConfig:
    """Validate a ``[scoring]`` table (as parsed from TOML); ``mode`` overrides its mode."""
    table = dict(table or {})
    if mode is not None:
        if mode not in MODES:
            raise ConfigError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
        table["mode"] = mode
    # TOML dates and times have no JSON form: pass them as text, the engine names the key.
    text = json.dumps(table, default=str)
    try:
        canonical = _core.canonical_config_json(text)
    except _core.ScoreConfigError as exc:
        raise ConfigError(f"{source}: {SECTION}.{exc}") from None
    return _finish(canonical, source)


def load_config(path: str | Path | None = None, *, mode: str | None = None) -> EngineConfig:
    """Read the ``[scoring]`` table of ``path`` (defaults when ``path`` is ``None``)."""
    if path is None:
        return config_from_mapping({}, source="defaults", mode=mode) if mode else default_config()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    table = doc.get(SECTION, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: {SECTION}: expected a table, got {type(table).__name__}")
    return config_from_mapping(table, source=str(p), mode=mode)


def find_config(db_path: str | Path) -> Path | None:
    """``segtui.toml`` beside the store, when there is one."""
    candidate = Path(db_path).resolve().parent / CONFIG_FILE
    return candidate if candidate.is_file() else None
