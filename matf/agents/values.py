"""Values that fit a form field: its type, required-ness, pattern, min/max, lengths.

A form filled with values its own constraints reject tests nothing, so every
value is checked against the field's rules before it is used.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from dataclasses import dataclass, field

_BY_TYPE = {
    "email": "matf.test@example.com",
    "url": "https://example.com/",
    "tel": "555-0100",
    "password": "Matf-Test-Pass-123!",
    "search": "test",
    "date": "2026-01-15",
    "time": "12:00",
    "datetime-local": "2026-01-15T12:00",
    "month": "2026-01",
    "week": "2026-W03",
    "color": "#336699",
}

_BY_NAME = (
    (re.compile(r"e-?mail", re.I), "matf.test@example.com"),
    (re.compile(r"first", re.I), "Ada"),
    (re.compile(r"last|surname|family", re.I), "Lovelace"),
    (re.compile(r"name", re.I), "Ada Lovelace"),
    (re.compile(r"phone|tel|mobile", re.I), "555-0100"),
    (re.compile(r"zip|postal|post.?code", re.I), "12345"),
    (re.compile(r"city|town", re.I), "Springfield"),
    (re.compile(r"company|organi[sz]ation", re.I), "Acme Corp"),
    (re.compile(r"url|website|homepage", re.I), "https://example.com/"),
    (re.compile(r"age|qty|quantity|count|amount|number", re.I), "3"),
    (
        re.compile(r"message|comment|feedback|description|body|note", re.I),
        "Hello, this is an automated test message from MATF.",
    ),
)


@dataclass
class Field:
    """What the explorer read off one form control."""

    tag: str
    type: str = "text"
    name: str = ""
    label: str = ""
    required: bool = False
    pattern: str | None = None
    min: str | None = None
    max: str | None = None
    step: str | None = None
    minlength: int | None = None
    maxlength: int | None = None
    options: list[str] = field(default_factory=list)


def example_for_pattern(pattern: str) -> str | None:
    """The shortest-ish string matching ``pattern`` (HTML patterns match whole values)."""
    try:
        parsed = sre_parse.parse(pattern)
        value = _emit(parsed)
    except (re.error, ValueError, RecursionError, TypeError):
        return None
    try:
        return value if re.fullmatch(pattern, value) else None
    except re.error:
        return None


def _emit(items: object) -> str:
    out: list[str] = []
    for op, arg in items:  # type: ignore[attr-defined]
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is sre_constants.ANY:
            out.append("a")
        elif op is sre_constants.IN:
            out.append(_emit_in(arg))
        elif op in (
            sre_constants.MAX_REPEAT,
            sre_constants.MIN_REPEAT,
            getattr(sre_constants, "POSSESSIVE_REPEAT", None),
        ):
            low, high, sub = arg
            out.append(_emit(sub) * (max(low, 1) if high != 0 else 0))
        elif op is sre_constants.SUBPATTERN:
            out.append(_emit(arg[-1]))
        elif op is sre_constants.BRANCH:
            out.append(_emit(arg[1][0]))
        elif op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"unsupported regex part {op}")
    return "".join(out)


def _emit_in(items: list[tuple[object, object]]) -> str:
    if items and items[0][0] is sre_constants.NEGATE:
        banned = {chr(a) for op, a in items[1:] if op is sre_constants.LITERAL}  # type: ignore[arg-type]
        return next(c for c in "aZ0_-" if c not in banned)
    for op, arg in items:
        if op is sre_constants.LITERAL:
            return chr(arg)  # type: ignore[arg-type]
        if op is sre_constants.RANGE:
            return chr(arg[0])  # type: ignore[index]
        if op is sre_constants.CATEGORY:
            return {"CATEGORY_DIGIT": "1", "CATEGORY_SPACE": " "}.get(str(arg).split(".")[-1], "a")
    raise ValueError("empty character class")


def _number(f: Field) -> str:
    lo = float(f.min) if f.min not in (None, "") else None
    hi = float(f.max) if f.max not in (None, "") else None
    step = float(f.step) if f.step not in (None, "", "any") else 1.0
    if lo is not None:
        value = lo + step if hi is None or lo + step <= hi else lo
    elif hi is not None:
        value = min(hi, 1.0)
    else:
        value = 3.0
    return str(int(value)) if value == int(value) else str(value)


def _fit_length(value: str, f: Field) -> str:
    if f.minlength and len(value) < f.minlength:
        filler = " This message is long enough to meet the form's minimum length."
        while len(value) < f.minlength:
            value += filler
    if f.maxlength and len(value) > f.maxlength:
        value = value[: f.maxlength]
    return value


def value_for(f: Field) -> str | None:
    """A value for a text-like control or select, or None when none fits."""
    if f.tag == "select":
        return next(iter(f.options), None)
    if f.type in ("number", "range"):
        return _number(f)
    if f.pattern:
        generated = example_for_pattern(f.pattern)
        if generated is not None:
            return generated
    value = _BY_TYPE.get(f.type)
    if value is None:
        hint = f"{f.name} {f.label}"
        value = next((v for rx, v in _BY_NAME if rx.search(hint)), "Test value")
        if f.tag == "textarea":
            value = "Hello, this is an automated test message from MATF."
    if f.pattern:
        try:
            if not re.fullmatch(f.pattern, value):
                return None
        except re.error:
            pass
    return _fit_length(value, f)
