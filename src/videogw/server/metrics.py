"""Prometheus metrics for the server, on a registry of its own (one per app).

Counters follow the gateway's events (submits, failovers, unknown outcomes) and the
server's own status reads; gauges are read from the ledger at scrape time (jobs by status
and provider among the newest ones, today's spend per provider) and from the webhook
receiver's counts."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..events import FailedOver, JobEvent, OutcomeUnknown, Submitted
from .figures import recent_jobs, spend_rows

__all__ = ["ServerMetrics"]

_CACHE_S = 5.0


class _LedgerCollector(Collector):
    def __init__(self, gateway: Any, receiver: Callable[[], Any]) -> None:
        self.gateway = gateway
        self.receiver = receiver
        self._cached: tuple[float, list[Any]] | None = None

    def _families(self) -> list[Any]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < _CACHE_S:
            return self._cached[1]
        jobs = recent_jobs(self.gateway.store)
        by_status = Tally((j.status.value, j.provider or "") for j in jobs)
        gauge = GaugeMetricFamily(
            "videogw_jobs",
            "Jobs in the ledger (newest 20,000) by status and provider",
            labels=["status", "provider"],
        )
        for (status, provider), count in sorted(by_status.items()):
            gauge.add_metric([status, provider], count)
        spend = GaugeMetricFamily(
            "videogw_spend_usd_today",
            "USD charged today (UTC) by provider and model",
            labels=["provider", "model"],
        )
        for row in spend_rows(jobs, days=1, now=datetime.now(UTC)):
            spend.add_metric([row.provider, row.model], float(row.spend_usd))
        families = [gauge, spend]
        self._cached = (now, families)
        return families

    def collect(self) -> Iterator[Any]:
        yield from self._families()
        receiver = self.receiver()
        if receiver is not None:
            hooks = CounterMetricFamily(
                "videogw_webhook_deliveries",
                "Webhook deliveries received, by what became of them",
                labels=["result"],
            )
            stats = receiver.stats
            for name in ("applied", "duplicates", "rejected", "ignored", "confirmed", "disputed"):
                hooks.add_metric([name], getattr(stats, name))
            yield hooks


class ServerMetrics:
    def __init__(self, gateway: Any, receiver: Callable[[], Any]) -> None:
        self.registry = CollectorRegistry()
        self.submits = Counter(
            "videogw_submits",
            "Submits answered by the server, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "videogw_accepted",
            "Jobs accepted by a provider",
            ["provider"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "videogw_failovers",
            "Failovers from one provider to the next",
            ["provider"],
            registry=self.registry,
        )
        self.unknown = Counter(
            "videogw_outcome_unknown",
            "Submits whose outcome is unknown",
            ["provider"],
            registry=self.registry,
        )
        self.status_reads = Counter(
            "videogw_status_reads",
            "Status reads the server made for clients",
            ["provider"],
            registry=self.registry,
        )
        self.registry.register(_LedgerCollector(gateway, receiver))
        gateway.on_event(self._on_event)

    def _on_event(self, event: JobEvent) -> None:
        provider = event.job.provider or ""
        if isinstance(event, Submitted):
            self.accepted.labels(provider).inc()
        elif isinstance(event, FailedOver):
            self.failovers.labels(event.provider).inc()
        elif isinstance(event, OutcomeUnknown):
            self.unknown.labels(provider).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
