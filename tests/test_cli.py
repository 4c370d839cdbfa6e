"""CLI conventions: exit codes, plain stderr, and headless commands that never import Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from segtui.cli import LAZY_COMMANDS, all_commands, cli

PY = sys.executable


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "segtui.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_help_lists_commands_and_exits_zero() -> None:
    r = run("--help")
    assert r.returncode == 0
    assert "segtui" in r.stdout
    for name in all_commands():
        assert name in r.stdout


def run_code(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter (what a command imports shows in sys.modules)."""
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_usage_error_exits_2() -> None:
    r = run("--no-such-option")
    assert r.returncode == 2
    assert "No such option" in r.stderr


def test_bare_segtui_without_store_says_what_to_do(tmp_path: Path) -> None:
    r = run("--db", str(tmp_path / "none.db"))
    assert r.returncode == 1
    assert "segtui demo" in r.stderr
    assert "Traceback" not in r.stderr


def test_headless_commands_never_import_textual() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from segtui.cli import all_commands, cli\n"
        "runner = CliRunner()\n"
        "for name, cmd in all_commands().items():\n"
        "    r = runner.invoke(cli, [name, '--help'])\n"
        "    assert r.exit_code == 0, (name, r.output)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('textual modules:', bad)\n"
        "assert not bad\n"
    )
    run_code(code)


def test_lazy_command_registry_matches_the_modules() -> None:
    """Every module's commands are registered under their own names, and nothing else is."""
    import importlib

    found = {}
    for module in dict.fromkeys(LAZY_COMMANDS.values()):
        for command in importlib.import_module(module).COMMANDS:
            found[command.name] = module
    assert found == LAZY_COMMANDS
    assert sorted(all_commands()) == sorted(LAZY_COMMANDS)


def test_score_starts_without_the_listing_stack() -> None:
    """Running one command imports its own module only (start-up time of `segtui score`)."""
    code = (
        "import sys\n"
        "from segtui.cli import cli\n"
        "import click\n"
        "cli.get_command(click.Context(cli), 'score')\n"
        "print(sorted(m for m in sys.modules if m.startswith('segtui.commands.')))\n"
        "assert 'segtui.rules' not in sys.modules and 'pyarrow.parquet' not in sys.modules\n"
    )
    r = run_code(code)
    assert "segtui.commands.score_cmd" in r.stdout and "listing_cmd" not in r.stdout
