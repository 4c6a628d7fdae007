"""Find a value in files, in any of the forms it could be written in.

The forms: the value itself, URL-encoded (``quote`` with and without ``/``
kept, ``quote_plus``, in upper- and lower-case hex), HTML-escaped and
JSON-escaped; and base64 (standard and URL-safe) of the value at any offset in
what was encoded: for each of the three alignments, the part of the encoding
that depends on the value's bytes alone (its "stable core").

Files are read whole, and what they contain is opened too: zip members (a
Playwright trace, at any depth), gzip streams and a PDF's deflated streams.
A PDF's text is read as well, as a reader sees it (pypdf extracts it): its
streams hold glyph numbers, not characters, so the bytes alone would miss a
value printed in it. Printing may break a line anywhere in a value, so that
text is searched with all whitespace removed, from it and from the forms.
"""

from __future__ import annotations

import base64
import gzip
import html
import io
import json
import re
import zipfile
import zlib
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pypdf

_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def base64_cores(value: bytes) -> set[bytes]:
    """What base64 of any bytes containing ``value`` contains, whatever its offset."""
    cores: set[bytes] = set()
    for shift in range(3):
        data = b"\0" * shift + value
        encoded = base64.b64encode(data)
        start = 4 if shift else 0  # the first group mixes in the bytes before the value
        end = (len(data) // 3) * 4  # a last partial group mixes in the bytes after it
        core = encoded[start:end]
        if len(core) >= 8:
            cores.add(core)
            cores.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return cores


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def forms(value: str) -> dict[bytes, str]:
    """Each byte string that would show ``value``, and what form it is."""
    texts = {
        "plain": value,
        "quote": quote(value, safe=""),
        "quote-slash": quote(value),
        "quote_plus": quote_plus(value),
        "html": html.escape(value),
        "html-noquote": html.escape(value, quote=False),
        "json": json.dumps(value)[1:-1],
        "json-utf8": json.dumps(value, ensure_ascii=False)[1:-1],
    }
    for name in ("quote", "quote-slash", "quote_plus"):
        texts[f"{name}-lower"] = _lower_hex(texts[name])
    found: dict[bytes, str] = {}
    for name, text in texts.items():
        found.setdefault(text.encode(), name)
    for core in base64_cores(value.encode()):
        found.setdefault(core, "base64")
    return found


@dataclass(frozen=True)
class Hit:
    where: str  # the file, and the member or stream inside it
    form: str

    def __str__(self) -> str:
        return f"{self.where} ({self.form})"


class Scanner:
    """Looks for one value's forms in bytes, files and folders."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.forms = forms(value)

    def scan_bytes(self, data: bytes, where: str, depth: int = 0) -> list[Hit]:
        hits = [Hit(where, name) for form, name in self.forms.items() if form in data]
        if data[:5] == b"%PDF-":
            text = _squeezed(pdf_text(data).encode("utf-8", "surrogatepass"))
            squeezed = {_squeezed(form): name for form, name in self.forms.items()}
            hits += [Hit(f"{where}!text", name) for form, name in squeezed.items() if form in text]
        if depth > 4:
            return hits
        for inner, label in _opened(data):
            hits += self.scan_bytes(inner, f"{where}!{label}", depth + 1)
        return hits

    def scan_text(self, text: str, where: str) -> list[Hit]:
        return self.scan_bytes(text.encode("utf-8", "surrogatepass"), where)

    def scan_tree(self, root: Path) -> list[Hit]:
        hits: list[Hit] = []
        for path in sorted(root.rglob("*")):
            if path.is_file():
                hits += self.scan_bytes(path.read_bytes(), str(path.relative_to(root)))
        return hits


def pdf_text(data: bytes) -> str:
    """Every page's text and the document's metadata, as a PDF reader shows them."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    parts = [page.extract_text() for page in reader.pages]
    parts += [str(value) for value in (reader.metadata or {}).values()]
    return "\n".join(parts)


def _squeezed(data: bytes) -> bytes:
    return re.sub(rb"\s+", b"", data)


def _opened(data: bytes) -> list[tuple[bytes, str]]:
    """What ``data`` holds inside: zip members, a gzip stream, a PDF's streams."""
    inside: list[tuple[bytes, str]] = []
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inside += [(archive.read(name), name) for name in archive.namelist()]
    elif data[:2] == b"\x1f\x8b":
        with suppress(OSError, EOFError):
            inside.append((gzip.decompress(data), "gunzip"))
    elif data[:5] == b"%PDF-":
        for number, match in enumerate(_PDF_STREAM.finditer(data)):
            with suppress(zlib.error):
                inside.append((zlib.decompress(match.group(1)), f"stream{number}"))
    return inside
