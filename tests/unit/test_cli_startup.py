"""`matf run` pays only for what it uses: its start-up imports nothing it will not call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from cli.lazy import LAZY_COMMANDS
from cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_module_leaves_the_other_commands_and_the_model_sdk_unimported() -> None:
    # Given a fresh interpreter, when it imports what `matf` runs first
    probe = (
        "import sys, cli.main; "
        "print(sorted(m for m in sys.modules if m.startswith(('cli.commands.', 'mistralai', "
        "'alembic', 'argon2', 'flask'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    # Then neither another command's module nor the SDKs only some commands need are loaded
    assert done.stdout.strip() == "[]"


def test_every_lazy_command_loads_under_its_own_name() -> None:
    context = click.Context(cli)
    for name in LAZY_COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name
    assert set(LAZY_COMMANDS) <= set(cli.list_commands(context))
