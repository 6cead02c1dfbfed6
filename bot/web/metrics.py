"""Prometheus metrics: updates handled, handler latency, outbox depth, send errors by kind,
progress of background tasks. Only their definitions live here (every layer of the bot counts
into them); bot/web/metrics_server.py serves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "auditbot_updates_handled", "Telegram updates handled", ["kind"], registry=REGISTRY
)
LATENCY = Histogram(
    "auditbot_handler_seconds",
    "Time from receiving an update to the end of its handling",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("auditbot_outbox_depth", "Messages waiting to be sent", registry=REGISTRY)
SEND_ERRORS = Counter(
    "auditbot_send_errors", "Bot API errors while sending", ["kind"], registry=REGISTRY
)


def update_kind(update: object) -> str:
    """A low-cardinality label for an update: message, callback_query, edited_message, …"""
    for kind in ("callback_query", "message", "edited_message", "my_chat_member"):
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


TASK_PROGRESS = Gauge(
    "auditbot_task_last_progress_timestamp_seconds",
    "When a background task (sender, polling, scheduler jobs, leadership) last made progress",
    ["task"],
    registry=REGISTRY,
)
TASK_STALLED = Gauge(
    "auditbot_task_stalled",
    "1 while a background task has made no progress for longer than it should",
    ["task"],
    registry=REGISTRY,
)
TASK_FAILURES = Counter(
    "auditbot_task_failures",
    "Failed attempts of background tasks, by kind of error",
    ["task", "kind"],
    registry=REGISTRY,
)
UNCONFIRMED = Counter(
    "auditbot_updates_unconfirmed",
    "Updates left for Telegram to deliver again because the database failed while handling them",
    ["transport"],
    registry=REGISTRY,
)
OUTBOX_SKIPPED = Counter(
    "auditbot_outbox_skipped",
    "Queued messages not sent because they were no longer wanted at send time",
    ["reason"],
    registry=REGISTRY,
)


class _PipelineFigures:
    """The answer pipeline's own counts (app/pipeline.py), read when /metrics is asked: events
    per transaction is how much group commit saves, retries how often workers collide."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[CounterMetricFamily]:
        figures = (
            ("transactions", "Answer pipeline transactions committed (one per batch)", "batches"),
            ("events", "Events the answer pipeline committed", "events"),
            ("retries", "Events that lost to another worker's write and were retried", "retries"),
        )
        for name, documentation, attribute in figures:
            family = CounterMetricFamily(f"auditbot_pipeline_{name}", documentation)
            family.add_metric([], getattr(self.pipeline, attribute, 0))
            yield family


def pipeline_figures(pipeline: Any) -> bytes:
    """The pipeline's counters in Prometheus' text format (zero before its first event)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PipelineFigures(pipeline))
    return generate_latest(registry)
