"""Visual baselines: recorded on a first run, replaced only when a person approves.

Owned by the context manager agent. The executor reads the approved image of a
key at ``<root>/<key>.png`` and never writes there; after a run, ``adopt``
turns its captures into baselines (first sighting) or pending candidates (a
change), and ``approve``/``reject`` settle a candidate. Safe to run twice:
one row per (key, run).
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from matf.browser.visual import baseline_file, png_size
from matf.errors import Conflict, NotFound
from matf.files import inside, write_atomic
from matf.results import TestResult
from matf.storage.models import Baseline

STATUSES = ("approved", "pending", "rejected", "superseded")


def adopt(
    session: Session, results: list[TestResult], artifacts_root: Path, baselines_root: Path
) -> list[Baseline]:
    """Record what a run's visual checks captured; the rows added."""
    added: list[Baseline] = []
    for result in results:
        for check in result.visual:
            if check.actual is None or check.status == "matched":
                continue
            source = _inside(artifacts_root, check.actual)
            if source is None or _row(session, check.key, result.run_id) is not None:
                continue
            if check.status == "recorded":
                row = _record_first(session, result, check.key, source, baselines_root)
            else:
                diff = _inside(artifacts_root, check.diff) if check.diff else None
                row = _record_candidate(
                    session, result, check.key, source, diff, baselines_root, check.ratio
                )
            if row is not None:
                added.append(row)
    return added


def _record_first(
    session: Session, result: TestResult, key: str, source: Path, root: Path
) -> Baseline | None:
    target = baseline_file(root, key)
    approved = session.scalars(
        select(Baseline).where(Baseline.key == key, Baseline.status == "approved")
    ).first()
    if approved is not None or target.exists():
        return None  # another run recorded it first: that one stands
    data = source.read_bytes()
    _write_new(target, data)
    row = _new_row(result, key, target, root, data, status="approved")
    row.decided_at, row.decided_by = row.created_at, "first run"
    session.add(row)
    session.flush()
    return row


def _record_candidate(
    session: Session,
    result: TestResult,
    key: str,
    source: Path,
    diff: Path | None,
    root: Path,
    ratio: float,
) -> Baseline:
    data = source.read_bytes()
    stem = baseline_file(root, key).with_suffix("")
    image = stem.parent / f"{stem.name}.{result.run_id}.png"
    _write_new(image, data, replace=True)
    row = _new_row(result, key, image, root, data, status="pending")
    row.ratio = ratio
    if diff is not None:
        diff_path = stem.parent / f"{stem.name}.{result.run_id}.diff.png"
        _write_new(diff_path, diff.read_bytes(), replace=True)
        row.diff = diff_path.relative_to(root.resolve()).as_posix()
    session.add(row)
    session.flush()
    return row


def list_baselines(
    session: Session,
    status: str | None = None,
    run_id: str | None = None,
    key_prefix: str | None = None,
    limit: int = 200,
) -> list[Baseline]:
    query = select(Baseline).order_by(Baseline.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Baseline.status == status)
    if run_id is not None:
        query = query.where(Baseline.run_id == run_id)
    if key_prefix is not None:
        query = query.where(Baseline.key.startswith(key_prefix, autoescape=True))
    return list(session.scalars(query))


def get_baseline(session: Session, baseline_id: int) -> Baseline:
    row = session.get(Baseline, baseline_id)
    if row is None:
        raise NotFound(f"no baseline {baseline_id}")
    return row


def approve(session: Session, baseline_id: int, root: Path, by: str) -> Baseline:
    """Make a pending candidate the baseline of its key; the old one is superseded."""
    row = _pending(session, baseline_id, "approve")
    candidate = _inside(root, row.image)
    if candidate is None:
        raise Conflict(f"baseline {baseline_id}'s image is missing from {root}")
    target = baseline_file(root, row.key)
    data = candidate.read_bytes()
    now = datetime.now(UTC)
    for old in session.scalars(
        select(Baseline).where(Baseline.key == row.key, Baseline.status == "approved")
    ):
        old.status, old.decided_at, old.decided_by = "superseded", now, by
        old.image = _archive(root, old, target)
    _write_new(target, data, replace=True)
    row.status, row.decided_at, row.decided_by = "approved", now, by
    row.image = target.relative_to(root.resolve()).as_posix()
    row.sha256 = hashlib.sha256(data).hexdigest()
    candidate.unlink(missing_ok=True)
    session.flush()
    return row


def reject(session: Session, baseline_id: int, root: Path, by: str) -> Baseline:
    """Keep the current baseline; the candidate's images are deleted."""
    row = _pending(session, baseline_id, "reject")
    for path in (row.image, row.diff):
        found = _inside(root, path) if path else None
        if found is not None:
            found.unlink(missing_ok=True)
    row.status, row.decided_at, row.decided_by = "rejected", datetime.now(UTC), by
    session.flush()
    return row


def image_path(row: Baseline, root: Path, which: str) -> Path:
    """The file behind a row: its ``image`` or its ``diff``."""
    stored = row.image if which == "image" else row.diff
    found = _inside(root, stored) if stored else None
    if found is None or not found.is_file():
        raise NotFound(f"baseline {row.id} has no {which} image")
    return found


def _pending(session: Session, baseline_id: int, verb: str) -> Baseline:
    row = get_baseline(session, baseline_id)
    if row.status != "pending":
        raise Conflict(f"cannot {verb} baseline {baseline_id}: it is {row.status}, not pending")
    return row


def _archive(root: Path, old: Baseline, current: Path) -> str:
    """Keep a superseded image beside the new one, so history stays viewable."""
    source = _inside(root, old.image)
    if source is None or source != current:
        return old.image
    kept = current.with_name(f"{current.stem}.superseded-{old.id}.png")
    if current.exists():
        shutil.copyfile(current, kept)
    return kept.relative_to(root.resolve()).as_posix()


def _new_row(
    result: TestResult, key: str, path: Path, root: Path, data: bytes, status: str
) -> Baseline:
    width, height = png_size(data)
    return Baseline(
        key=key,
        status=status,
        image=path.relative_to(root.resolve()).as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        case_id=result.case_id,
        browser=result.browser,
        run_id=result.run_id,
        created_at=datetime.now(UTC),
    )


def _row(session: Session, key: str, run_id: str) -> Baseline | None:
    return session.scalars(
        select(Baseline).where(Baseline.key == key, Baseline.run_id == run_id)
    ).first()


def _inside(root: Path, relative: str | None) -> Path | None:
    """The file at ``root/relative`` if it stays inside ``root`` (paths come from stored data)."""
    path = inside(root, relative)
    return path if path is not None and path.is_file() else None


def _write_new(path: Path, data: bytes, replace: bool = False) -> None:
    """Write atomically; without ``replace``, an existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, replace=replace)


def as_dict(row: Baseline) -> dict[str, Any]:
    """A baseline as the API and ``matf baselines list --json`` show it."""
    return {
        "id": row.id,
        "key": row.key,
        "status": row.status,
        "case_id": row.case_id,
        "browser": row.browser,
        "run_id": row.run_id,
        "width": row.width,
        "height": row.height,
        "ratio": row.ratio,
        "created_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "decided_by": row.decided_by,
    }
