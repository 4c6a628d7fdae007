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
