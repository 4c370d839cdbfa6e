"""Playbooks: what to do about an account, by its primary segment.

The defaults are the design's (the RFM maps' table, and the profitability quadrants' actions).
``segtui.toml`` beside the store may add or replace them per segment::

    [playbooks."At Risk"]
    action = "personal outreach within a week"
    owner = "account manager"
    due_within_days = 7
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from segtui.errors import ConfigError


@dataclass(frozen=True)
class Playbook:
    segment: str
    who: str
    action: str
    owner: str | None = None
    due_within_days: int | None = None


DEFAULTS: dict[str, tuple[str, str]] = {
    "Champions": ("bought recently, often, and spend the most", "reward, ask for referrals and reviews, early access"),
    "Loyal": ("buy often and spend well, not in the last few weeks", "upsell, loyalty programme"),
    "Potential Loyalist": ("recent, average frequency and spend", "membership or bundle offer, onboarding to more products"),
    "New Customers": ("bought very recently, once", "welcome series, fast first value"),
    "Promising": ("recent, low frequency and spend", "build the relationship, free trial of a higher tier"),
    "Need Attention": ("middling on all three", "time-limited offer, check-in call"),
    "About to Sleep": ("below average recency, low frequency and spend", "reactivation campaign, share popular products"),
    "At Risk": ("spent well and often, long ago", "personal outreach, win-back offer"),
    "Can't Lose Them": ("were among the best, gone quiet longest", "win them back now; escalate to an owner"),
    "Hibernating": ("long ago, low frequency and spend", "low-cost re-engagement or sunset"),
    "Lost": ("lowest on every axis", "ignore, or one last win-back; recover their cost to serve"),
}


def load(config: Path) -> dict[str, Playbook]:
    """Default playbooks, overridden by ``[playbooks.NAME]`` tables of ``config`` when it exists."""
    out = {seg: Playbook(seg, who, action) for seg, (who, action) in DEFAULTS.items()}
    if not config.exists():
        return out
    try:
        with open(config, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{config}: {e}") from None
    table = doc.get("playbooks", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config}: [playbooks] must be a table of segment tables")
    for seg, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("action"), str):
            raise ConfigError(f"{config}: [playbooks.{seg!r}] needs action = \"...\"")
        due = entry.get("due_within_days", entry.get("due_days"))
        if due is not None and (not isinstance(due, int) or due < 0):
            raise ConfigError(f"{config}: [playbooks.{seg!r}] due_within_days must be a whole number of days")
        owner = entry.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise ConfigError(f"{config}: [playbooks.{seg!r}] owner must be text")
        base = out.get(seg)
        out[seg] = Playbook(seg, entry.get("who", base.who if base else ""), entry["action"], owner, due)
    return out
