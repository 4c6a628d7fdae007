"""Specs written from a site's content validate, or are dropped with their reason; never raised.

A page is untrusted input: a 10,000-character link text, a name made of
control characters, a lone UTF-16 surrogate set by a script. The writer's
drafts pass through ``guard``: names become one printable line of at most
300 characters, a locator whose text is too long to be useful (or that no
JSON document can hold) gives way to another locator found for the same
element, duplicates are merged, and a draft that still fails validation is
left out with its reason, so one odd page never ends a run.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from matf.errors import SpecError
from matf.spec import TestSpec, parse_spec

MAX_NAME = 300  # TestSpec.name's limit
MAX_LOCATOR_TEXT = 500  # longer names and texts find nothing a person could read back
ELLIPSIS = "…"
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_JOINERS = frozenset("\u200c\u200d")


@dataclass(frozen=True)
class Dropped:
    """A draft left out: its id, its (shortened) name and the one-line reason."""

    id: str
    name: str
    reason: str


@dataclass
class Checked:
    """The specs that validate, those dropped, and how many duplicates were merged."""

    specs: list[TestSpec] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    merged: int = 0


def one_line(text: str) -> str:
    """Text fit to show: no control or bidi characters, no lone surrogates, one line."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cs":
            kept.append("\ufffd")
        elif category == "Cc" or ch in _BIDI_CONTROLS:
            kept.append(" ")
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())


def shorten(text: str, limit: int = MAX_NAME) -> str:
    """``text`` in at most ``limit`` characters: its start and end around an ellipsis.

    The cut never separates a character from the accents or joiners that
    follow it, so no half-drawn character is left on either side.
    """
    if len(text) <= limit:
        return text
    keep = limit - len(ELLIPSIS)
    head, tail = (keep * 2) // 3, len(text) - (keep - (keep * 2) // 3)
    while head > 0 and (_attaches(text[head]) or text[head - 1] in _JOINERS):
        head -= 1
    while tail < len(text) and (_attaches(text[tail]) or text[tail - 1] in _JOINERS):
        tail += 1
    return text[:head] + ELLIPSIS + text[tail:]


def _attaches(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (a mark, joiner, variation selector)."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch in _JOINERS
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
    )


def guard(drafts: list[dict[str, Any]]) -> Checked:
    """Validate each draft, repaired where it can be, in order; see the module's docstring."""
    checked = Checked()
    seen_steps: set[str] = set()
    ids: set[str] = set()
    for draft in drafts:
        spec_id, name = _shown(draft)
        try:
            spec = _repaired(draft, name)
            if spec.id in ids:
                raise SpecError(f"invalid spec: id: {spec.id!r} is used by an earlier test")
        except (SpecError, ValueError) as exc:
            checked.dropped.append(Dropped(spec_id, name, shorten(one_line(str(exc)))))
            continue
        doing = _doing(spec)
        if doing in seen_steps:
            checked.merged += 1
            continue
        seen_steps.add(doing)
        ids.add(spec.id)
        checked.specs.append(spec)
    return checked


def _shown(draft: dict[str, Any]) -> tuple[str, str]:
    spec_id = shorten(one_line(str(draft.get("id") or "")), 128)
    return spec_id, shorten(one_line(str(draft.get("name") or ""))) or spec_id or "unnamed test"


def _repaired(draft: dict[str, Any], name: str) -> TestSpec:
    steps = draft.get("steps")
    data = {**draft, "name": name}
    if isinstance(steps, list):
        data["steps"] = [_step(step, n) for n, step in enumerate(steps, 1)]
    spec = parse_spec(_no_surrogates(data))
    spec.model_dump_json()  # raises ValueError for anything no report could write
    return spec


def _step(step: Any, number: int) -> Any:
    """The step with usable locators; SpecError when its element has none."""
    if not isinstance(step, dict):
        return step
    step = dict(step)
    if isinstance(step.get("mask"), list):
        step["mask"] = [loc for loc in step["mask"] if _unusable(loc) is None]
    if "target" not in step:
        return step
    found = [step["target"], *(step.get("alternatives") or [])]
    usable = [loc for loc in found if _unusable(loc) is None]
    if not usable:
        why = _unusable(step["target"])
        raise SpecError(
            f"invalid spec: step {number} ({step.get('action')}): its element's {why}, "
            "and no other way to find it was found"
        )
    step["target"] = usable[0]
    if usable[1:]:
        step["alternatives"] = usable[1:]
    else:
        step.pop("alternatives", None)
    return step


def _unusable(locator: Any) -> str | None:
    """Why a locator cannot serve (too long, unstorable characters), or None."""
    if not isinstance(locator, dict):
        return None  # validation says what is wrong with it
    for key, value in locator.items():
        if not isinstance(value, str):
            continue
        if len(value) > MAX_LOCATOR_TEXT:
            return f"{key} is {len(value)} characters long (at most {MAX_LOCATOR_TEXT})"
        if "\x00" in value or any(unicodedata.category(ch) == "Cs" for ch in value):
            return f"{key} holds characters no test can store (NUL or a lone surrogate)"
    return None


def _no_surrogates(value: Any) -> Any:
    """``value`` with lone surrogates in its strings made U+FFFD (nothing can encode them)."""
    if isinstance(value, str):
        if value.isascii():
            return value
        return "".join("\ufffd" if unicodedata.category(c) == "Cs" else c for c in value)
    if isinstance(value, dict):
        return {key: _no_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_surrogates(item) for item in value]
    return value


def _doing(spec: TestSpec) -> str:
    """What a spec does, names and ids aside: two specs doing the same are one test."""
    return json.dumps(
        spec.model_dump(mode="json", include={"kind", "url", "steps", "viewport", "timeout_ms"}),
        sort_keys=True,
    )
