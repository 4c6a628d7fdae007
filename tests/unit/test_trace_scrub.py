"""Scrubbing a trace zip: every form of every value out, entries kept, nothing half-written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from matf.browser.tracescrub import scrub_zip, stop_scrubbed, value_pattern
from matf.redaction import encoded_forms

TOKEN = 'tok/en+"Zq81=é'  # a slash, a plus, a quote and a non-ASCII letter: every form differs
OTHER = "0123456789abcdef-session"


def _trace(path: Path) -> dict[str, bytes]:
    entries = {
        "trace.network": json.dumps(
            {"headers": [{"name": "Cookie", "value": f"sid={TOKEN}"}]}
        ).encode(),
        "trace.trace": f'{{"url":"/x?t={quote(TOKEN, safe="")}","other":"{OTHER}"}}'.encode(),
        "resources/page.html": f"<p>{TOKEN}</p>".encode(),
        "resources/shot.jpeg": b"\xff\xd8\xff binary " + OTHER.encode() + b" \x00\x01",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return entries


def _read(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_form_of_every_value_is_taken_out_of_every_entry(tmp_path: Path) -> None:
    source, target = tmp_path / "raw.zip", tmp_path / "kept.zip"
    before = _trace(source)
    pattern = value_pattern([TOKEN, OTHER])
    assert pattern is not None

    replaced = scrub_zip(source, target, pattern)

    after = _read(target)
    assert list(after) == list(before)  # the same entries, in order
    needles = {form.encode() for value in (TOKEN, OTHER) for form in encoded_forms(value)}
    assert not [(n, x) for n, data in after.items() for x in needles if x in data]
    assert replaced == 5 and after["resources/page.html"] == b"<p>[redacted]</p>"
    assert after["resources/shot.jpeg"].startswith(b"\xff\xd8\xff binary [redacted]")
    assert {p.name for p in tmp_path.iterdir()} == {"raw.zip", "kept.zip"}  # no temporary left


def test_a_trace_that_cannot_be_scrubbed_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "kept.zip"
    written: list[Path] = []

    def stop(path: str) -> None:  # Playwright writes a broken zip
        written.append(Path(path))
        Path(path).write_bytes(b"not a zip at all, " + OTHER.encode())

    with pytest.raises(zipfile.BadZipFile):
        stop_scrubbed(stop, target, [OTHER])

    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file
    assert written and not written[0].exists() and not written[0].parent.exists()


def test_a_trace_stopped_scrubbed_keeps_only_the_clean_copy(tmp_path: Path) -> None:
    target = tmp_path / "kept.zip"
    raw: list[Path] = []

    def stop(path: str) -> None:
        raw.append(Path(path))
        _trace(Path(path))

    stop_scrubbed(stop, target, [TOKEN, OTHER])

    assert TOKEN.encode() not in b"".join(_read(target).values())
    assert not raw[0].exists()  # the unscrubbed zip is gone
