"""Background tracking for `videogw serve`: jobs are followed to the end (and the route's
rules after acceptance applied) even when no client polls them.

One daemon thread runs `Gateway.resume` in short rounds: each round claims the open jobs
nobody else holds (through the ledger's leases, so several servers or a `videogw resume`
share the work without acting twice), tracks them on the adaptive schedule for up to
`round_s` seconds and lets go of their leases. A client's GET still reads a job's status
when it is due, so a polling SDK sees progress without waiting for a round.
"""

from __future__ import annotations

import logging
import threading

from ..gateway import Gateway

__all__ = ["BackgroundTracker"]

log = logging.getLogger("videogw.server")


class BackgroundTracker:
    def __init__(self, gateway: Gateway, *, round_s: float = 5.0, idle_s: float = 1.0) -> None:
        self.gateway = gateway
        self.round_s = round_s
        self.idle_s = idle_s
        self.rounds = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundTracker:
        self._thread = threading.Thread(target=self._run, name="videogw-tracker", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.gateway.resume(timeout=self.round_s)
                tracked = len(report.jobs)
            except Exception:  # one bad round must not end tracking for good
                log.exception("background tracking round failed; trying again")
                tracked = 0
            self.rounds += 1
            if not tracked:
                self._stop.wait(self.idle_s)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
