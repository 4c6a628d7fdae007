"""SIGTERM and SIGHUP take Ctrl-C's way out, and leave the handlers as they were."""

from __future__ import annotations

import os
import signal
from types import FrameType

import pytest

from cli.interrupts import Interrupted, describe, exit_code, interrupts, run_reason


def _mine(_signum: int, _frame: FrameType | None) -> None:
    raise AssertionError("the handler from before ran inside the block")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_in_the_block_raises_a_keyboard_interrupt_that_names_it(
    signum: signal.Signals, code: int
) -> None:
    before = signal.signal(signum, _mine)
    try:
        with pytest.raises(KeyboardInterrupt) as caught, interrupts():
            os.kill(os.getpid(), signum)
        assert isinstance(caught.value, Interrupted) and caught.value.signum == signum
        assert exit_code(caught.value) == code
        assert describe(caught.value) == f"interrupted by {signum.name}"
        assert run_reason(caught.value) == f"interrupted by {signum.name}"
        assert signal.getsignal(signum) is _mine  # restored
    finally:
        signal.signal(signum, before)


def test_ctrl_c_keeps_its_own_code_and_reason() -> None:
    plain = KeyboardInterrupt()
    assert exit_code(plain) == 130
    assert describe(plain) == "interrupted by SIGINT"
    assert run_reason(plain) == "interrupted by the user"


def test_a_signal_the_caller_ignored_stays_ignored() -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts us
    try:
        with interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
