"""``report.json`` written a test at a time: the run indented for people, one line per test.

``json.dumps(indent=2)`` runs Python's pure-Python encoder over the whole
document and holds the result as one string: at 10,000 results that is most
of the reporter's time and memory. Here each test is one compact line (the C
encoder, nothing held beyond it), which also makes the file easy to ``grep``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matf.reports.stream import atomic_stream

HEAD_LIMIT = 4 * 1024 * 1024  # bytes of report.json read before its tests, at most


def write_json(data: dict[str, Any], path: Path) -> Path:
    """Write report.json's ``data`` to ``path`` atomically, streaming its tests."""
    tests = data.get("tests") or []
    with atomic_stream(path) as out:
        out.write("{\n")
        for key, value in data.items():
            if key != "tests":
                nested = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
                out.write(f"  {json.dumps(key)}: {nested},\n")
        out.write('  "tests": [')
        for i, test in enumerate(tests):
            out.write(",\n    " if i else "\n    ")
            out.write(json.dumps(test, ensure_ascii=False))
        out.write("\n  ]\n}\n" if tests else "]\n}\n")
    return path


def read_head(path: Path, limit_bytes: int = HEAD_LIMIT) -> dict[str, Any] | None:
    """report.json without its tests, read without reading them: what ``write_json`` put first.

    For a page that shows a run's summary and causes from a report of 10,000
    tests. None when the file is missing, was not written by ``write_json``,
    or its head is over ``limit_bytes``.
    """
    head: list[str] = []
    size = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith('  "tests": ['):
                    break
                size += len(line)
                if size > limit_bytes:
                    return None
                head.append(line)
            else:
                return None
        found = json.loads("".join(head) + '  "tests": []\n}')
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return found if isinstance(found, dict) else None
