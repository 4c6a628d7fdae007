"""What the model answers, checked like any hand-written suite, and repaired once.

The model's answer is data: JSON decoded, each test validated by the strict
spec schema, then held to rules the schema cannot know: every URL a test
opens or fetches stays on the target's origin, and secrets appear only as
``{{secret:NAME}}`` placeholders for names that exist. An answer with
problems gets one repair round carrying the problems; what is still wrong
after it is dropped, each with its reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from matf.browser.steps import origin_of
from matf.errors import SpecError
from matf.llm.gateway import Completion
from matf.llm.prompts import repair_messages
from matf.placeholders import PLACEHOLDER, referenced_names
from matf.spec import ApiRequest, ExpectStatus, Goto, TestSpec, parse_spec

log = logging.getLogger("matf.ai")

ID_PREFIX = "ai-"
MAX_TESTS = 20
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_NAVIGATING = (Goto, ExpectStatus, ApiRequest)  # steps that open or fetch a URL


@dataclass
class Proposal:
    """The tests a page's answer(s) gave, what was dropped and what it cost."""

    specs: list[TestSpec] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def count(self, completion: Completion) -> None:
        self.calls += completion.attempts
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


def check_answer(
    text: str, origin: str, secret_names: Iterable[str] = ()
) -> tuple[list[TestSpec], list[str]]:
    """The valid tests in an answer, and one line per problem found."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"the answer is not JSON: {exc.msg} at line {exc.lineno}"]
    items = data.get("tests") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], ['the answer must be a JSON object {"tests": [ ... ]}']
    names = set(secret_names)
    specs: list[TestSpec] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items[:MAX_TESTS]):
        where = f"tests[{index}]"
        try:
            spec = parse_spec(_with_prefix(item))
        except SpecError as exc:
            problems.append(f"{where}: {exc.message.removeprefix('invalid spec: ')}")
            continue
        problem = _off_origin(spec, origin) or _bad_placeholder(item, names)
        if problem is None and spec.id in seen:
            problem = f"duplicate id {spec.id!r}"
        if problem is not None:
            problems.append(f"{where} ({spec.id}): {problem}")
            continue
        seen.add(spec.id)
        specs.append(spec)
    if len(items) > MAX_TESTS:
        problems.append(f"only the first {MAX_TESTS} tests are read; {len(items)} were given")
    return specs, problems


def propose(
    complete: Callable[[list[dict[str, str]]], Completion],
    messages: list[dict[str, str]],
    origin: str,
    secret_names: Iterable[str] = (),
    repair: bool = True,
) -> Proposal:
    """Ask, check, and repair once; the tests that hold, and why the others were dropped.

    ``repair=False`` (the run's budget has room for one call only): what is
    wrong is dropped at once.
    """
    names = list(secret_names)
    proposal = Proposal()
    first = complete(messages)
    proposal.count(first)
    specs, problems = check_answer(first.text, origin, names)
    if problems and not repair:
        problems = [f"{p} (not repaired: the run's call budget is spent)" for p in problems]
    elif problems:
        log.info("answer had %d problem(s); asking for one repair", len(problems))
        second = complete(repair_messages(messages, first.text, problems))
        proposal.count(second)
        repaired, problems = check_answer(second.text, origin, names)
        kept = {spec.id for spec in repaired}
        specs = repaired + [spec for spec in specs if spec.id not in kept]
    proposal.specs = specs
    proposal.dropped = problems
    for reason in problems:
        log.info("dropped a proposed test: %s", reason)
    return proposal


def _with_prefix(item: Any) -> Any:
    """Model-written ids are namespaced, so they never collide with heuristic ones."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        ident = item["id"].strip().lower()
        if not ident.startswith(ID_PREFIX):
            ident = ID_PREFIX + ident
        return {**item, "id": ident[:128]}
    return item


def _off_origin(spec: TestSpec, origin: str) -> str | None:
    wanted = origin_of(origin)
    if origin_of(spec.url) != wanted:
        return f"its url {spec.url} is off the target's origin"
    for number, step in enumerate(spec.steps, 1):
        if isinstance(step, _NAVIGATING):
            url = urljoin(spec.url, step.url)
            if urlsplit(url).scheme not in ("http", "https") or origin_of(url) != wanted:
                return f"step {number} ({step.action}) goes to {url}, off the target's origin"
    return None


def _bad_placeholder(item: Any, names: set[str]) -> str | None:
    """A secret is only ever a placeholder for a name the target has."""
    unknown = sorted(referenced_names(item) - names)
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        return f"unknown secret {unknown[0]!r} (available: {known})"
    if any(_TEMPLATE.search(PLACEHOLDER.sub("", text)) for text in _strings(item)):
        return "only {{secret:NAME}} placeholders are allowed in values"
    return None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
