"""Schemathesis' stateful phase (``stateful_contract.py``), in an interpreter of its own.

Hypothesis refuses a state machine whose draws change between its own
replays of a sequence. Run after other tests in one process, the servers
they started there (embedded workers, Celery's current app, caches) changed
some answers under it and it failed as "flaky" rather than on a contract. A
fresh interpreter sees the same derandomized sequences every time, so a
failure there is the contract's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_call_sequences_keep_the_contract_in_a_process_of_their_own() -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [*command, str(HERE / "stateful_contract.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    report = done.stdout[-8000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "2 passed" in done.stdout, report  # admin and anonymous both ran
