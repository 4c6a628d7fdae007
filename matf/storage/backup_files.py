"""The file-level steps of backups: SQLite copies, checks, durable copies, names, manifest.

Kept apart from ``backup.py`` (what a backup is and how it is kept) so each
reads on its own. SQLite errors leave here as ``sqlite3.Error``: the caller
knows what the failure means (a busy database is not a broken one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine

from matf.storage.db import current_revision

# matf-20261207T111500Z, and matf-20261207T111500Z-2 for a second one in that second.
NAME = re.compile(r"matf-(\d{8}T\d{6}Z)(?:-(\d+))?")
FORMAT = "matf-backup/1"
DATABASE = "database.sqlite3"
BASELINES = "baselines"
MANIFEST = "manifest.json"
BUSY_TIMEOUT_S = 15.0  # as the engine's busy_timeout: a writer's commit is waited for
STALE_PARTIAL_S = 6 * 3600.0  # a partial folder this old belongs to a backup that died


def sqlite_uri(path: Path, mode: str) -> str:
    """A ``file:`` URI for ``path``: ``ro`` never writes, ``rw`` never creates."""
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def copy_database(source: Path, target: Path) -> None:
    """Copy a live SQLite database to a new single file, online and consistent.

    One backup step of every page (``pages=-1``) runs in one read transaction:
    in WAL mode writers are not blocked, and the copy is that transaction's
    snapshot, so it holds every row committed before the step began. (Steps of
    a few pages would restart whenever another process writes, and under
    steady writers might never end.) The copy is switched to a rollback journal
    so that it is one self-contained file.
    """
    src = sqlite3.connect(sqlite_uri(source, "rw"), uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def write_into(source: Path, target: Path) -> None:
    """Overwrite the database ``target`` with ``source``'s pages through SQLite.

    SQLite takes the write lock and keeps ``target``'s WAL mode; a process that
    holds ``target`` open reads the new pages afterwards, not a swapped file.
    """
    src = sqlite3.connect(sqlite_uri(source, "ro"), uri=True)
    try:
        dst = sqlite3.connect(sqlite_uri(target, "rw"), uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            src.backup(dst)
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    finally:
        src.close()


def integrity_problem(path: Path) -> str | None:
    """None when ``PRAGMA integrity_check`` says ok; else what it (or opening) says."""
    try:
        conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    found = [" ".join(str(row[0]).split()) for row in rows]  # one line: its rows span several
    return None if found == ["ok"] else "; ".join(found[:3])


def not_a_database(path: Path) -> bool:
    """True when SQLite, asked read-only, says ``path`` is not a database or is malformed.

    Read-only because a writable connection to a broken file may delete its -wal on close.
    """
    try:
        conn = sqlite3.connect(sqlite_uri(path, "ro"), uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return False  # locked, or no -shm to read it by: not a verdict on the file
    except sqlite3.DatabaseError:
        return True
    return False


def row_counts(database: Path) -> dict[str, int]:
    """Rows in each table of a SQLite file, read-only."""
    conn = sqlite3.connect(sqlite_uri(database, "ro"), uri=True)
    try:
        tables = [
            str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            counts[table] = int(conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
        return counts
    finally:
        conn.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def copy_file(source: Path, target: Path) -> None:
    """Copy one file and fsync it: a backup that says it is whole must be on disk."""
    shutil.copyfile(source, target)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def regular_files(root: Path) -> Iterator[Path]:
    """The regular files under ``root`` (no symlinks), in a stable order."""
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def copy_tree(source: Path, target: Path) -> None:
    """Copy the regular files under ``source``; one removed meanwhile is skipped.

    Hidden files are a writer's temporaries (``write_atomic``), not state.
    """
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for file in regular_files(source):
        relative = file.relative_to(source)
        if any(part.startswith(".") for part in relative.parts):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        try:
            copy_file(file, target / relative)
        except FileNotFoundError:
            continue  # rejected or replaced while we copied: not part of the state


def move_aside(database: Path, aside: Path) -> None:
    """Rename a database and its -wal and -shm together (a -wal without its file corrupts)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = database.with_name(database.name + suffix)
        if part.exists():
            part.rename(aside.with_name(aside.name + suffix))
    fsync_dir(database.parent)


def unused_name(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``... whichever does not exist yet."""
    candidate, number = path, 2
    while candidate.exists() or candidate.with_name(candidate.name + "-wal").exists():
        candidate = path.with_name(f"{path.name}-{number}")
        number += 1
    return candidate


def backup_order(path: Path) -> tuple[str, int]:
    """Sort key of a backup folder: its stamp, then its number within that second."""
    found = NAME.fullmatch(path.name)
    if found is None:
        return ("", 0)
    return (found.group(1), int(found.group(2) or 1))


def is_stale_partial(path: Path) -> bool:
    """A partial folder untouched for hours: the backup that made it died."""
    try:
        return time.time() - path.stat().st_mtime > STALE_PARTIAL_S
    except FileNotFoundError:
        return False


# -- the manifest ------------------------------------------------------------------------


def build_manifest(folder: Path, created: datetime, source: Path) -> dict[str, Any]:
    """What a finished backup folder holds: revision, row counts, each file's size and sha256."""
    database = folder / DATABASE
    files = {
        file.relative_to(folder).as_posix(): {"bytes": file.stat().st_size, "sha256": sha256(file)}
        for file in regular_files(folder)
    }
    return {
        "format": FORMAT,
        "created_at": created.astimezone(UTC).isoformat(),
        "source": str(source.resolve()),
        "revision": _revision(database),
        "tables": row_counts(database),
        "bytes": sum(entry["bytes"] for entry in files.values()),
        "files": files,
    }


def _revision(database: Path) -> str | None:
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(sqlite_uri(database, "ro"), uri=True)
    )
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of backup ``path``; ValueError saying why it has none we can read."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path} has no {MANIFEST}: not a complete backup") from exc
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path / MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path / MANIFEST} is not a MATF backup manifest")
    return manifest
