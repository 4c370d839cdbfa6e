"""A few SVG snapshots pinning the layout at a fixed size, theme and data.

Update after an intended change: ``pytest tests/test_tui_snapshots.py --snapshot-update``, then look
at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_app import make_app, settle
from tui_fixtures import build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("snap") / "store.db")


def keys(*presses: str):  # noqa: ANN201
    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        for k in presses:
            await pilot.press(k)
            await settle(pilot)

    return run_before


def test_overview(snap_compare, store: Path) -> None:  # noqa: ANN001
    assert snap_compare(make_app(store), terminal_size=(120, 40), run_before=keys())


def test_segment_accounts_sorted_by_margin(snap_compare, store: Path) -> None:  # noqa: ANN001
    assert snap_compare(make_app(store), terminal_size=(120, 40),
                        run_before=keys("enter", *"lllll", "s"))


def test_account(snap_compare, store: Path) -> None:  # noqa: ANN001
    assert snap_compare(make_app(store), terminal_size=(120, 40), run_before=keys("enter", "enter"))


def test_migration_small_terminal(snap_compare, store: Path) -> None:  # noqa: ANN001
    assert snap_compare(make_app(store), terminal_size=(80, 24), run_before=keys("m", "l", "l"))
