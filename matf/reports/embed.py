"""What report.html may link to and embed: http(s) URLs, artifacts inside the folder, real images.

Every path and URL in a report comes from the tested site or its results, so
links are made only for absolute http(s) URLs, artifact links only for plain
relative paths that cannot leave the report's folder, and an image is embedded
only when its bytes say it is one.
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from matf.files import inside, plain_relative

MAX_EMBEDDED_IMAGE_BYTES = 8 * 1024 * 1024
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def safe_http_url(value: Any) -> str | None:
    """Return the URL only if it is absolute http(s); javascript:, data: and others stay text."""
    if not isinstance(value, str) or value != value.strip():
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def safe_relative_href(value: Any) -> str | None:
    """Turn an artifact path into a percent-encoded relative link that cannot leave the folder."""
    if not plain_relative(value) or ":" in PurePosixPath(value).parts[0]:
        return None
    return quote(value, safe="/")


def embed_image(out_dir: Path, rel_path: Any) -> str | None:
    """Inline a screenshot as a data: URI; skip missing, huge, outside or non-image files."""
    path = inside(out_dir, rel_path)
    if path is None:
        return None
    try:
        if not path.is_file() or path.stat().st_size > MAX_EMBEDDED_IMAGE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    mime = _sniff_image(data)
    if mime is None:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _sniff_image(data: bytes) -> str | None:
    """Trust the file's bytes, not its name, for the MIME type of an embedded image."""
    for signature, mime in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
