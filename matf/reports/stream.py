"""Writing a big report without holding it: files written chunk by chunk, rows prepared lazily.

A run of 10,000 results makes report files of tens of megabytes. Building each
as one string (and its display values as one list beside it) would hold the
whole report several times over; here a template's output goes to disk as it
is generated, and each test is turned into display values only when the
template reaches it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_stream(target: Path) -> Iterator[IO[str]]:
    """A text file to write in pieces that replaces ``target`` in one step once complete.

    A reader sees the old file or the whole new one, as with ``write_atomic``;
    an error while writing leaves ``target`` as it was.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_chunks(target: Path, chunks: Iterable[str]) -> Path:
    """Write ``chunks`` (a template's ``generate()``) to ``target`` atomically."""
    with atomic_stream(target) as handle:
        for chunk in chunks:
            handle.write(chunk)
    return target


class Rows:
    """Tests turned into display values one at a time, each time the template walks them.

    ``len()`` is known without preparing anything, so templates can count.
    """

    def __init__(self, tests: Sequence[dict[str, Any]], prepare: Callable[[Any], Any]) -> None:
        self._tests = tests
        self._prepare = prepare

    def __len__(self) -> int:
        return len(self._tests)

    def __bool__(self) -> bool:
        return bool(self._tests)

    def __iter__(self) -> Iterator[Any]:
        return (self._prepare(test) for test in self._tests)
