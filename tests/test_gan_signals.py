"""a3lab.gan.signals: SIGINT and SIGTERM are caught while training, a second one aborts, handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from a3lab.gan.signals import StopSignals


def test_the_first_signal_is_recorded_and_the_second_aborts(capsys) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert "SIGTERM: finishing the step and writing a checkpoint" in capsys.readouterr().err


def test_outside_the_main_thread_nothing_is_installed() -> None:
    seen = {}

    def body() -> None:
        with StopSignals(announce=False) as signals:
            seen["previous"] = signals._previous

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen["previous"] == {}
