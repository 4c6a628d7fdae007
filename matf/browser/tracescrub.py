"""Session values scrubbed from a Playwright trace before it is kept.

A trace of a signed-in test holds its session: every request's ``Cookie``
header and every ``Set-Cookie`` answer (``trace.network``), the storage state
the context was created from, local storage read by scripts, and response
bodies (``resources/``). Unlike a secret typed into a field, the session's
values are known byte for byte, so they can be taken out: every entry of the
zip is rewritten with each value, in every form ``matf.redaction`` knows
(URL-encoded, HTML- and JSON-escaped, base64), replaced by ``[redacted]``.

The trace Playwright writes goes to a private temporary folder; only the
scrubbed copy reaches the artifacts folder, written beside its final name and
renamed into place, so no reader ever sees a partial or unscrubbed zip there.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from matf.redaction import MIN_SECRET_CHARS, encoded_forms

REDACTED = b"[redacted]"
_NOTHING = re.compile(rb"(?!)")  # matches nowhere


def value_pattern(values: Iterable[str]) -> re.Pattern[bytes] | None:
    """One pattern for every form of every value, longest first; None when there is none."""
    forms: set[bytes] = set()
    for value in values:
        if len(value) >= MIN_SECRET_CHARS:
            forms |= {form.encode("utf-8") for form in encoded_forms(value)}
    if not forms:
        return None
    ordered = sorted(forms, key=lambda form: (-len(form), form))
    return re.compile(b"|".join(map(re.escape, ordered)))


def scrub_zip(source: Path, target: Path, pattern: re.Pattern[bytes]) -> int:
    """Write ``source`` to ``target`` with every match of ``pattern`` redacted; count them.

    ``target`` appears complete or not at all (a temporary file renamed).
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    replaced = 0
    try:
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(temporary, "w") as new:
            for info in old.infolist():
                data, count = pattern.subn(REDACTED, old.read(info))
                replaced += count
                entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = info.external_attr
                new.writestr(entry, data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return replaced


def stop_scrubbed(stop: Callable[[str], None], target: Path, values: Iterable[str]) -> None:
    """Stop a trace with ``stop(path)`` and keep at ``target`` only its scrubbed copy.

    Raises when the trace cannot be written or scrubbed; nothing is left at
    ``target`` then, and the unscrubbed zip is always deleted.
    """
    pattern = value_pattern(values)
    scratch = Path(tempfile.mkdtemp(prefix="matf-trace-"))  # mode 0700: this user's only
    try:
        raw = scratch / "trace.zip"
        stop(str(raw))
        scrub_zip(raw, target, pattern or _NOTHING)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
