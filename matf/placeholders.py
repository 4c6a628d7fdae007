"""``{{secret:NAME}}`` in specs: which secrets a spec refers to, and filling them in.

Specs hold placeholders, never values; an executor fills them as its steps run,
from values it opened with its own key, and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from matf.errors import UsageError

PLACEHOLDER = re.compile(r"\{\{\s*secret:([A-Za-z0-9_.-]+)\s*\}\}")


def referenced_names(values: Any) -> set[str]:
    """The secret names ``{{secret:NAME}}`` placeholders refer to, anywhere in ``values``."""
    if isinstance(values, str):
        return {match.group(1) for match in PLACEHOLDER.finditer(values)}
    if isinstance(values, dict):
        return set().union(*(referenced_names(v) for v in values.values())) if values else set()
    if isinstance(values, list | tuple):
        return set().union(*(referenced_names(v) for v in values)) if values else set()
    return set()


def fill_placeholders(text: str, values: Mapping[str, str], origin: str = "") -> str:
    """``text`` with each ``{{secret:NAME}}`` replaced by its value, at execution only.

    A missing value raises ``SecretMissing`` naming the secret, never its value.
    """

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SecretMissing(
                f"secret {name!r} is not available"
                + (
                    f": set it with 'matf secrets set {origin} {name.split('.')[0]}'"
                    if origin
                    else ""
                )
            )
        return values[name]

    return PLACEHOLDER.sub(value_of, text)


class SecretMissing(UsageError):
    """A spec refers to a secret the target does not have (or that cannot be opened)."""
