"""What a healthy answer looks like: the documented success status, media type and body."""

from __future__ import annotations

import re
from typing import Any

from matf.agents.apidiscovery.document import Document


def expected_status(responses: Any) -> tuple[int | str, str] | None:
    """The lowest documented 2xx as an int, else "2xx" for 2XX/default; and its key."""
    if not isinstance(responses, dict):
        return None
    codes = sorted(int(k) for k in map(str, responses) if re.fullmatch(r"2\d\d", k))
    if codes:
        key = next(k for k in responses if str(k) == str(codes[0]))
        return codes[0], key
    for key in responses:
        if str(key).upper() == "2XX":
            return "2xx", key
    if "default" in responses:
        return "2xx", "default"
    return None


def success_body(ctx: Document, op: dict[str, Any], response: Any) -> tuple[str | None, Any]:
    """(content type, schema source) of a success response."""
    if not isinstance(response, dict):
        return None, None
    if ctx.version == "2.0":
        produces = op.get("produces", ctx.data.get("produces"))
        media = _pick_media(produces) if isinstance(produces, list) else None
        base = (media or "").split(";", 1)[0].strip().lower()
        json_like = media is None or _is_json(base)
        return _content_type(media), response.get("schema") if json_like else None
    content = response.get("content")
    if not isinstance(content, dict) or not content:
        return None, None
    media = _pick_media(list(content))
    if media is None:
        return None, None
    body = content[media]
    base = media.split(";", 1)[0].strip().lower()
    source = body.get("schema") if isinstance(body, dict) and _is_json(base) else None
    return _content_type(media), source


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith(("+json", "/json"))


def _pick_media(types: list[str]) -> str | None:
    bases = [t.split(";", 1)[0].strip().lower() for t in types if isinstance(t, str)]
    for wanted in (lambda m: m == "application/json", _is_json, lambda m: True):
        for index, media in enumerate(bases):
            if wanted(media):
                return types[index]
    return None


def _content_type(media: str | None) -> str | None:
    """The prefix a check expects: "application/json"; "*/*" expects nothing."""
    if media is None:
        return None
    base = media.split(";", 1)[0].strip().lower()
    if base.startswith("*"):
        return None
    return base.split("*", 1)[0] or None
