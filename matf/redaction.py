"""Secret values scrubbed from what leaves an executor: results, errors, log lines.

The first line of defence is not to record a value at all (``matf.agents.executor``
traces no test that fills a secret; screenshots mask the fields). This is the
second: every string an executor sends out (a result, an error, an event, a log
record) has each known secret value replaced by ``{{secret:NAME}}``, in the
forms a value takes on its way through a page, a URL or an API: as is,
URL-encoded (``quote``, ``quote_plus``, either hex case), HTML- and
JSON-escaped, and base64 (standard and URL-safe) wherever in the encoded bytes
the value sat (the part of each of the three alignments that depends on the
value alone).

Values shorter than ``MIN_SECRET_CHARS`` are left alone: replacing "ab" in
every message would garble them and protect nothing.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ValidationError

MIN_SECRET_CHARS = 4
_MIN_BASE64_CORE = 8  # shorter fragments would match ordinary text
M = TypeVar("M", bound=BaseModel)


def encoded_forms(value: str) -> set[str]:
    """The strings that show ``value``: as is, URL-encoded, escaped, and base64."""
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        html.escape(value),
        html.escape(value, quote=False),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in forms}
    forms |= base64_cores(value.encode("utf-8"))
    return {form for form in forms if form}


def base64_cores(value: bytes) -> set[str]:
    """What base64 of any bytes holding ``value`` contains, at each of the three offsets.

    The first group of four characters mixes in the bytes before the value and
    a last partial group the bytes after it: what lies between depends on the
    value alone.
    """
    cores: set[str] = set()
    for shift in range(3):
        data = b"\0" * shift + value
        encoded = base64.b64encode(data).decode("ascii")
        core = encoded[4 if shift else 0 : (len(data) // 3) * 4]
        if len(core) >= _MIN_BASE64_CORE:
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


class Redactor:
    """Replaces known secret values, in every form, by ``{{secret:NAME}}``."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        names: dict[str, str] = {}
        for name, value in sorted(secrets.items()):
            if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS:
                for form in encoded_forms(value):
                    names.setdefault(form, name)
        self._names = names
        # One pass, longest first: a placeholder put in is never rewritten.
        ordered = sorted(names, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: "{{secret:" + self._names[m.group(0)] + "}}", text)

    def found_in(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def scrub_deep(self, value: Any) -> Any:
        """``value`` (JSON-like: strings, lists, dicts) with every string scrubbed, not keys.

        Keys are field names, not data: scrubbing them would break the shape.
        """
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub_deep(v) for v in value)
        return value

    def scrub_model(self, model: M) -> M:
        """A copy of ``model`` with every string scrubbed (validated again).

        A string the model constrains to a few words (a status, an action) that
        a secret happens to equal is kept as it was: it is one of those words.
        """
        if self._pattern is None:
            return model
        data = model.model_dump(mode="json")
        if not self.found_in(json.dumps(data, ensure_ascii=False)):
            return model
        scrubbed = self.scrub_deep(data)
        try:
            return type(model).model_validate(scrubbed)
        except ValidationError as exc:
            for error in exc.errors():
                _restore(scrubbed, data, error["loc"])
        return type(model).model_validate(scrubbed)


def _restore(scrubbed: Any, original: Any, loc: tuple[int | str, ...]) -> None:
    """Put back, in ``scrubbed``, the value ``original`` has at ``loc``."""
    try:
        for part in loc[:-1]:
            scrubbed, original = scrubbed[part], original[part]
        scrubbed[loc[-1]] = original[loc[-1]]
    except (KeyError, IndexError, TypeError):
        pass


# --- log records ---------------------------------------------------------------------

_active: dict[int, Redactor] = {}
_lock = threading.Lock()
_installed = False


@contextmanager
def redacting(secrets: Mapping[str, str]) -> Iterator[Redactor]:
    """While inside, every log record made in this process is scrubbed of ``secrets``.

    Log records are scrubbed as they are made (a record factory), so every
    handler and formatter, ours or a library's, sees them clean, tracebacks
    included. Executors run tests in threads of one process: each job adds its
    values for as long as it runs.
    """
    redactor = Redactor(secrets)
    if not redactor:
        yield redactor
        return
    _install()
    with _lock:
        _active[id(redactor)] = redactor
    try:
        yield redactor
    finally:
        with _lock:
            _active.pop(id(redactor), None)


def _install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _active:
                _scrub_record(record, list(_active.values()))
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _scrub_record(record: logging.LogRecord, redactors: list[Redactor]) -> None:
    def scrub(text: str) -> str:
        for redactor in redactors:
            text = redactor.scrub(text)
        return text

    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: keep what was given, scrubbed
        message = f"{record.msg} {record.args}"
    record.msg, record.args = scrub(message), None
    if record.exc_info:
        # Formatters print exc_text when it is set: the traceback, scrubbed once here.
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
