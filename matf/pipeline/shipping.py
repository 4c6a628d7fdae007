"""Artifacts and baselines travel in the messages when executors share no disk with the reporter.

An executor pod may run on any node, with a ``STORAGE_PATH`` of its own. With
``ARTIFACT_TRANSPORT=message`` (the default of distributed mode) nothing of a
test is left on the executor's disk:

- the job carries the approved baselines its visual checks compare with
  (``with_baselines``, on the control side that owns them);
- the executor runs the test in a private folder that holds those baselines
  and receives its artifacts (``ship``), then reads back the files its result
  names (failure screenshot, visual captures and diffs first, then trace and
  video) into the result's message to the logger, up to
  ``ARTIFACT_MESSAGE_MB``; what does not fit is named in the result's
  ``artifacts.withheld``;
- the logger writes them under its own ``STORAGE_PATH`` before it stores the
  result (``land``), so the reporter, which shares that volume, embeds them.

``ARTIFACT_TRANSPORT=shared`` is for a file system every worker mounts
(ReadWriteMany): nothing travels, every worker reads and writes it directly.
"""

from __future__ import annotations

import base64
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from matf.browser.visual import baseline_set, slug
from matf.files import inside, write_atomic
from matf.pipeline.fanout import ExecutorJob, ShippedFile
from matf.results import TestResult
from matf.settings import Settings

log = logging.getLogger("matf.shipping")

MB = 1024 * 1024


@dataclass(frozen=True)
class Shipping:
    """What travels in the messages: the control side's baselines, up to ``limit_bytes``."""

    baselines_root: Path
    limit_bytes: int

    @classmethod
    def of(cls, settings: Settings, embedded: bool) -> Shipping | None:
        """None when nothing travels: one process (embedded), or a shared file system."""
        if embedded or settings.artifact_transport == "shared":
            return None
        return cls(Path(settings.storage_path) / "baselines", settings.artifact_message_mb * MB)


def read_file(root: Path, path: str) -> ShippedFile:
    """The file at ``root / path`` as it travels."""
    return ShippedFile(path=path, data=base64.b64encode((root / path).read_bytes()).decode("ascii"))


def write_under(item: ShippedFile, root: Path) -> Path | None:
    """Write it below ``root``; None (and nothing written) for a path that would leave it."""
    target = inside(root, item.path)
    if target is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, base64.b64decode(item.data, validate=True))


# -- the control side: baselines out, artifacts in ----------------------------------------


def with_baselines(job: ExecutorJob, baselines_root: Path, limit_bytes: int) -> ExecutorJob:
    """The job, carrying the approved baselines of its visual checks in this browser."""
    if not any(step.action == "check_visual" for step in job.spec.steps):
        return job
    folder = baselines_root / slug(job.rendering.baseline_set or baseline_set(job.spec.url))
    folder = folder / slug(job.spec.id)
    if not folder.is_dir():
        return job
    files, size = [], 0
    for png in sorted(folder.glob(f"*-{slug(job.browser)}-*.png")):
        size += png.stat().st_size
        if size > limit_bytes:
            log.warning("%s: baselines over %d bytes stay behind", job.task_id, limit_bytes)
            break
        files.append(read_file(baselines_root, png.relative_to(baselines_root).as_posix()))
    return job.model_copy(update={"baselines": tuple(files)})


def land(result: TestResult, files: list[ShippedFile], artifacts_root: Path) -> int:
    """Write the shipped files the result names below ``artifacts_root``; how many were written.

    A file the result does not name, or whose path would leave the folder, is
    dropped: the message is an executor's, the folder the reporter's.
    """
    named = set(artifact_paths(result))
    written = 0
    for item in files:
        if item.path in named and write_under(item, artifacts_root) is not None:
            written += 1
    return written


# -- the executor side ---------------------------------------------------------------------


@contextmanager
def private_storage(job: ExecutorJob, settings: Settings) -> Iterator[Settings]:
    """Settings whose ``STORAGE_PATH`` is a folder of this job's alone, its baselines in it."""
    folder = Path(tempfile.mkdtemp(prefix="matf-job-"))
    try:
        for item in job.baselines:
            write_under(item, folder / "baselines")
        yield settings.model_copy(update={"storage_path": folder})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def execute_shipped(
    job: ExecutorJob, settings: Settings, limit_bytes: int
) -> tuple[TestResult, list[ShippedFile]]:
    """Run the job in a folder of its own; its result and the files that travel with it."""
    from matf.pipeline.execute import execute  # the browser stack: only executors load it

    with private_storage(job, settings) as mine:
        result = execute(job, mine)
        return pack(result, Path(mine.storage_path) / "artifacts", limit_bytes)


def pack(
    result: TestResult, artifacts_root: Path, limit_bytes: int
) -> tuple[TestResult, list[ShippedFile]]:
    """The files ``result`` names, most useful first, up to ``limit_bytes`` in all.

    What does not fit (or is gone) is said in ``artifacts.withheld``; the
    result keeps naming only what travels.
    """
    files: list[ShippedFile] = []
    left: dict[str, int] = {}  # path: size, of what does not fit
    size = 0
    for path in artifact_paths(result):
        source = inside(artifacts_root, path)
        if source is None or not source.is_file():
            continue
        found = source.stat().st_size
        if size + found > limit_bytes:
            left[path] = found
            continue
        size += found
        files.append(read_file(artifacts_root, path))
    if left:
        result = _say_left(result, left, limit_bytes)
    return result, files


def artifact_paths(result: TestResult) -> list[str]:
    """The artifact paths a result names: screenshot and visual evidence first, then the rest."""
    first = [result.artifacts.screenshot]
    for check in result.visual:
        first += [check.diff, check.actual]
    then = [result.artifacts.trace, result.artifacts.video]
    return [path for path in (*first, *then) if path]


def _say_left(result: TestResult, left: dict[str, int], limit_bytes: int) -> TestResult:
    unnamed = {
        f: None for f in ("screenshot", "trace", "video") if getattr(result.artifacts, f) in left
    }
    sizes = ", ".join(f"{PurePosixPath(path).name} ({n / MB:.1f} MB)" for path, n in left.items())
    note = (
        f"not sent to the reporter, over the {limit_bytes / MB:.0f} MB a result carries "
        f"(ARTIFACT_MESSAGE_MB): {sizes}"
    )
    withheld = "; ".join(filter(None, (result.artifacts.withheld, note)))
    artifacts = result.artifacts.model_copy(update={**unnamed, "withheld": withheld})
    return result.model_copy(update={"artifacts": artifacts})
