"""The action registry: one list feeds the keys, footer, help and palette; users rebind by id."""

from __future__ import annotations

from pathlib import Path

import pytest

from segtui.errors import ConfigError
from segtui.tui import actions
from segtui.tui.app import SegtuiApp
from segtui.tui.grid import Grid
from segtui.tui.screens.account import AccountScreen
from segtui.tui.screens.accounts import AccountsScreen
from segtui.tui.screens.cohorts import CohortsScreen
from segtui.tui.screens.migration import MigrationScreen
from segtui.tui.screens.overview import OverviewScreen
from segtui.tui.screens.profitability import ProfitabilityScreen

OWNERS = {
    "app": SegtuiApp, "table": Grid, "overview": OverviewScreen, "accounts": AccountsScreen, "account": AccountScreen,
    "migration": MigrationScreen, "profitability": ProfitabilityScreen, "cohorts": CohortsScreen,
}


def test_ids_are_unique_and_scoped() -> None:
    ids = [a.id for a in actions.REGISTRY]
    assert len(ids) == len(set(ids))
    for a in actions.REGISTRY:
        assert a.id.split(".")[0] == a.scope
        assert a.scope in OWNERS


@pytest.mark.parametrize("a", actions.REGISTRY, ids=lambda a: a.id)
def test_every_action_has_a_handler(a: actions.NamedAction) -> None:
    name = a.action.split("(")[0]
    owner = OWNERS[a.scope]
    assert hasattr(owner, f"action_{name}"), f"{owner.__name__} has no action_{name}"


def test_bindings_carry_the_ids() -> None:
    for scope, owner in OWNERS.items():
        expected = {a.id for a in actions.in_scope(scope)}
        bound = {b.id for b in owner.BINDINGS if getattr(b, "id", None)}
        assert expected <= bound, scope


def test_keymap_from_segtui_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "segtui.toml"
    assert actions.load_keymap(cfg) == {}
    cfg.write_text('[keys]\n"table.sort" = "S, ctrl+s"\n')
    keymap = actions.load_keymap(cfg)
    assert keymap == {"table.sort": "S,ctrl+s"}
    assert actions.effective_keys(actions.BY_ID["table.sort"], keymap) == ["S", "ctrl+s"]
    cfg.write_text('[keys]\n"table.sortt" = "S"\n')
    with pytest.raises(ConfigError, match="'table.sortt' is not an action"):
        actions.load_keymap(cfg)
    cfg.write_text('[keys]\n"table.sort" = 3\n')
    with pytest.raises(ConfigError, match="must be a non-empty string"):
        actions.load_keymap(cfg)
    cfg.write_text("[keys\n")
    with pytest.raises(ConfigError, match="segtui.toml"):
        actions.load_keymap(cfg)
