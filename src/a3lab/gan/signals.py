"""Stopping a training run cleanly: SIGINT (Ctrl-C) or SIGTERM asks the loop to stop after the current step,
with a checkpoint; a second signal stops at once."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """A context that catches SIGINT and SIGTERM while it is open, and restores the previous handlers after.

    `received` is the first signal caught (None: none). Python runs handlers in the main thread only, so in
    another thread the context installs nothing.
    """

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.received = signum
        if self.announce:
            print(
                f"\na3lab: {signal.Signals(signum).name}: finishing the step and writing a checkpoint "
                "(again to abort at once)",
                file=sys.stderr,
            )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous = {}
