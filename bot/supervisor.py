"""`auditbot serve --workers N`: the parent process that keeps N workers running.

A worker that dies (a crash, an out-of-memory kill) is started again at once; one that keeps
dying right after its start (five times within a minute) stops the whole server, since
restarting cannot help. A worker that refuses its configuration (exit code 2) stops it too.
SIGTERM and SIGINT are passed on to every worker. The exit code reports failures: 0 only when
no worker failed and all stopped cleanly, 2 for a configuration error, else 1.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections import deque

log = logging.getLogger(__name__)
CONFIG_ERROR = 2
CRASH_LOOP = (5, 60.0)  # this many failures of one worker within this many seconds: give up
STOP_WAIT = 10.0  # seconds workers get to stop before they are killed


class Supervisor:
    """Starts, watches, restarts and stops the worker processes."""

    def __init__(self, command: list[str], count: int) -> None:
        self.command = command
        self.count = count
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.failures: dict[int, deque[float]] = {i: deque() for i in range(count)}
        self.failed = 0
        self.stopping = False

    def run(self) -> int:
        """Supervise until stopped; returns the exit code."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for index in range(self.count):
            self._start(index)
        code = 0
        while self.children and not self.stopping:
            time.sleep(0.2)
            code = self._reap()
            if code:
                self._stop_all()
                return code
        return max(self._stop_all(), 1 if self.failed else 0)

    def _start(self, index: int) -> None:
        self.children[index] = subprocess.Popen([*self.command, "--worker-index", str(index)])

    def _reap(self) -> int:
        """Restart dead workers; a non-zero code when the server must stop."""
        for index, child in list(self.children.items()):
            status = child.poll()
            if status is None or self.stopping:
                continue
            del self.children[index]
            if status == CONFIG_ERROR:
                log.error("worker %d stopped on a configuration error; stopping", index)
                return CONFIG_ERROR
            self.failed += 1
            recent = self.failures[index]
            recent.append(time.monotonic())
            limit, window = CRASH_LOOP
            while recent and recent[0] < time.monotonic() - window:
                recent.popleft()
            if len(recent) >= limit:
                log.error(
                    "worker %d failed %d times within %.0f s (last: %s); stopping",
                    index,
                    limit,
                    window,
                    describe(status),
                )
                return 1
            log.error(
                "worker %d (pid %d) %s; starting it again", index, child.pid, describe(status)
            )
            self._start(index)
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def _stop_all(self) -> int:
        """Stop every worker (SIGTERM, then SIGKILL after STOP_WAIT); the worst exit code."""
        worst = 0
        deadline = time.monotonic() + STOP_WAIT
        for child in self.children.values():
            if child.poll() is None and not self.stopping:
                child.terminate()
        for index, child in self.children.items():
            try:
                status = child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop within %.0f s; killing it", index, STOP_WAIT)
                child.kill()
                status = child.wait()
            if status != 0:
                worst = max(worst, 1)
                log.error("worker %d %s", index, describe(status))
        self.children.clear()
        return worst


def describe(status: int) -> str:
    """A worker's exit status in words."""
    if status < 0:
        return f"was killed by signal {signal.Signals(-status).name}"
    return f"exited with code {status}"
