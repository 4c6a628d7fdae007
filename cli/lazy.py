"""The ``matf`` group's commands that load on demand."""

from __future__ import annotations

import importlib

import click

# The commands besides write, demo and schema, each imported only when named
# (or listed by --help): `matf run` does not pay for the server's or accounts' imports.
LAZY_COMMANDS = {
    "run": "cli.commands.run:run",
    "serve": "cli.commands.serve:serve",
    "users": "cli.commands.accounts:users",
    "keys": "cli.commands.accounts:keys",
    "secrets": "cli.commands.secrets:secrets",
    "baselines": "cli.commands.visual:baselines",
    "budgets": "cli.commands.visual:budgets",
    "export": "cli.commands.export:export",
    "heal": "cli.commands.heal:heal",
    "optimize": "cli.commands.optimize:optimize",
    "backup": "cli.commands.backup:backup",
    "migrate": "cli.commands.migrate:migrate",
    "healthcheck": "cli.commands.healthcheck:healthcheck",
}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)
