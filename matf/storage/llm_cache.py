"""Checked model answers by (page fingerprint, model, prompt version, goals).

Writing tests for an unchanged site again asks the model nothing: the page's
fingerprint finds the answer that was checked last time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy.orm import Session

from matf.spec import TestSpec, parse_spec
from matf.storage.models import LlmAnswer


def answer_key(fingerprint: str, model: str, prompt_version: str, goals: Iterable[str]) -> str:
    material = json.dumps([fingerprint, model, prompt_version, sorted(goals)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def cached_answer(session: Session, key: str) -> tuple[list[TestSpec], list[str]] | None:
    """The stored tests (validated again: the schema may have moved) and dropped reasons."""
    row = session.get(LlmAnswer, key)
    if row is None:
        return None
    return [parse_spec(item) for item in row.tests], [str(reason) for reason in row.dropped]


def store_answer(
    session: Session,
    key: str,
    *,
    model: str,
    prompt_version: str,
    url: str,
    specs: list[TestSpec],
    dropped: list[str],
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """Keep a checked answer; a second store of the same key changes nothing."""
    if session.get(LlmAnswer, key) is not None:
        return
    session.add(
        LlmAnswer(
            key=key,
            model=model,
            prompt_version=prompt_version,
            url=url,
            tests=[spec.model_dump(mode="json") for spec in specs],
            dropped=list(dropped),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    )
    session.flush()
