"""Writing files so that nobody ever reads half of one."""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path, PurePosixPath
from typing import Any


def write_atomic(target: Path, data: bytes | str, *, replace: bool = True) -> Path:
    """Replace ``target`` in one step: a reader sees the old file or the whole new one.

    ``replace=False``: an existing ``target`` is left as it is (the first writer
    wins, even between processes racing to create it).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        if replace:
            os.replace(tmp_name, target)
        else:
            with suppress(FileExistsError):
                os.link(tmp_name, target)
            os.unlink(tmp_name)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def plain_relative(value: Any) -> bool:
    """A plain relative POSIX path (the form artifact paths are written in), nothing that climbs."""
    if not isinstance(value, str) or not value or "\\" in value or "\x00" in value:
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts


def inside(root: Path, relative: Any) -> Path | None:
    """``root / relative`` for a plain relative path that stays below ``root``, else None.

    Paths of artifacts and baselines come from results, stored rows and
    messages: none may reach a file outside its folder, by ``..`` or a link.
    """
    if not plain_relative(relative):
        return None
    base = root.resolve()
    path = (base / str(relative)).resolve()
    return path if path.is_relative_to(base) else None
