"""Playbooks on the account screen: ``segtui.playbooks`` (the one reader of ``segtui.toml``'s
``[playbooks]`` and custom segments) decides the action, owner and days; this module adds, for
the RFM segments, the design's sentence on who the accounts are."""

from __future__ import annotations

from pathlib import Path

from segtui.playbooks import Playbook, SegmentConfig, config_for_store

WHO: dict[str, str] = {
    "Champions": "bought recently, often, and spend the most",
    "Loyal": "buy often and spend well, not in the last few weeks",
    "Potential Loyalist": "recent, average frequency and spend",
    "New Customers": "bought very recently, once",
    "Promising": "recent, low frequency and spend",
    "Need Attention": "middling on all three",
    "About to Sleep": "below average recency, low frequency and spend",
    "At Risk": "spent well and often, long ago",
    "Can't Lose Them": "were among the best, gone quiet longest",
    "Hibernating": "long ago, low frequency and spend",
    "Lost": "lowest on every axis",
}


def load(db_path: Path, config_path: Path | None = None) -> SegmentConfig:
    """The store's segment configuration (``segtui.toml`` beside it, else the defaults)."""
    return config_for_store(db_path, config_path if config_path is not None and config_path.exists() else None)


__all__ = ["WHO", "Playbook", "SegmentConfig", "load"]
