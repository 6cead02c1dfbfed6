"""Prometheus metrics: updates handled, handler latency, outbox depth, send errors by kind."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
