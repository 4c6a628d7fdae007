"""``matf backup``: copies of the SQLite database and the visual baselines, and restoring one.

The same functions the schedule calls every ``BACKUP_INTERVAL``
(``matf.storage.backup``); a person uses these before an upgrade, to check
the copies, or to go back to one. With PostgreSQL each command says to use
``pg_dump`` and does nothing else.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from matf.errors import EnvironmentProblem, UsageError
from matf.settings import Settings, load_settings
from matf.storage.backup import (
    Backup,
    create_verified,
    database_file,
    list_backups,
    prune,
    restore_backup,
    verify_backup,
)
from matf.storage.db import get_engine, sessions_for


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _line(item: Backup) -> str:
    if item.problem is not None:
        return f"{item.name}  broken: {item.problem}"
    when = item.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"{item.name}  {when}  {_size(item.bytes):>10}  schema {item.revision or '?'}  "
        f"{item.rows} rows"
    )


def _resolve(settings: Settings, text: str) -> Path:
    """A backup folder named by its path or by its name under ``BACKUP_PATH``."""
    for candidate in (Path(text), Path(settings.backup_path) / text):
        if candidate.is_file() and (candidate.parent / "manifest.json").is_file():
            return candidate.parent  # its database.sqlite3 or manifest.json was named
        if candidate.is_dir():
            return candidate
    raise UsageError(f"no backup {text!r}: 'matf backup list' shows them")


@click.group("backup")
def backup() -> None:
    """Back up the SQLite database and visual baselines; list, verify, restore."""


@backup.command("create")
def create_command() -> None:
    """Take a backup now (online: runs may go on), checked before it counts.

    A backup that verifies is noted in the database, so the metrics tell its
    age and size (``matf_backup_last_verified_timestamp_seconds``) whoever took
    it: the schedule, or this command in a CronJob.
    """
    settings = load_settings()

    def sessions(write: bool) -> AbstractContextManager[Session]:
        # opened once a backup verified: a database that cannot be backed up (PostgreSQL)
        # is refused first, in one line, without a connection
        return sessions_for(get_engine(settings.database_url))(write)

    made, check = create_verified(settings, sessions)
    if not check.ok:
        raise EnvironmentProblem(f"the backup {made.path} does not verify: {check.reason}")
    click.echo(
        f"backed up {database_file(settings)} to {made.path}: {_size(made.bytes)}, "
        f"schema {made.revision or '?'}, {made.rows} rows, integrity ok"
    )


@backup.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(as_json: bool) -> None:
    """List the backups under BACKUP_PATH, newest first."""
    settings = load_settings()
    found = list_backups(settings)
    for item in found:
        if as_json:
            record = {
                "name": item.name,
                "path": str(item.path),
                "created_at": item.created_at.isoformat(),
                "revision": item.revision,
                "bytes": item.bytes,
                "tables": item.tables,
                "problem": item.problem,
            }
            click.echo(json.dumps(record))
        else:
            click.echo(_line(item))
    if not found and not as_json:
        click.echo(f"no backups in {settings.backup_path}")


@backup.command("verify")
@click.argument("names", nargs=-1, metavar="[BACKUP]...")
@click.pass_context
def verify_command(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Check backups (all when none is named): files, checksums, integrity.

    Exit code 1 when any fails, with one line per backup saying why.
    """
    settings = load_settings()
    database_file(settings)  # PostgreSQL: the one line about pg_dump, whatever is named
    paths = [_resolve(settings, name) for name in names] or [
        item.path for item in list_backups(settings)
    ]
    if not paths:
        raise UsageError(f"no backups in {settings.backup_path} to verify")
    failed = 0
    for path in paths:
        check = verify_backup(path)
        failed += not check.ok
        click.echo(f"{path.name}: {'ok' if check.ok else 'FAILED: ' + check.reason}")
    if failed:
        click.echo(f"{failed} of {len(paths)} backup(s) failed verification", err=True)
        ctx.exit(1)


@backup.command("prune")
@click.option(
    "--keep",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Newest backups kept [default: BACKUP_KEEP].",
)
def prune_command(keep: int | None) -> None:
    """Delete all but the newest backups (nothing under BACKUP_PATH that is not one)."""
    settings = load_settings()
    removed = prune(settings, keep or settings.backup_keep)
    for path in removed:
        click.echo(f"deleted {path}")
    click.echo(f"kept the newest {keep or settings.backup_keep}, deleted {len(removed)}")


@backup.command("restore")
@click.argument("name", metavar="BACKUP")
@click.option("--yes", is_flag=True, help="Do not ask: replace the database.")
def restore_command(name: str, yes: bool) -> None:
    """Put BACKUP's database and baselines back; the current ones are kept aside first.

    Refused while a run or a worker is using the database: stop them first.
    """
    settings = load_settings()
    target = database_file(settings)
    path = _resolve(settings, name)
    check = verify_backup(path)
    if not check.ok:
        raise UsageError(f"{path} is not a good backup: {check.reason}")
    from tasks.control import running_work  # Celery's import: only to restore

    running = running_work(settings)
    if not yes and not running:
        question = f"Replace {target} and the baselines with {path.name} (kept aside first)?"
        if not sys.stdin.isatty():
            raise UsageError(f"restore replaces {target}: run it again with --yes to confirm")
        if not click.confirm(question):
            raise UsageError("nothing restored")
    done = restore_backup(settings, path, running)
    click.echo(f"restored {path.name} into {done.database}")
    if done.database_aside is not None:
        click.echo(f"the database it replaced is kept at {done.database_aside}")
    if done.baselines_aside is not None:
        click.echo(f"the baselines it replaced are kept at {done.baselines_aside}")
