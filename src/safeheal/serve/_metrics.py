"""Prometheus metrics of one gateway, in a registry of its own (two apps never share counters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from safeheal.serve._logwriter import LogStats

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LogCollector(Collector):
    def __init__(self, stats: Callable[[], LogStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        s = self._stats()
        for name, value, doc in (
            ("written", s.written, "Inference-log records the sink kept."),
            ("dropped", s.dropped, "Inference-log records dropped because the queue was full."),
            ("failed", s.failed, "Inference-log records in batches the sink failed to write."),
            ("abandoned", s.abandoned, "Records left queued when a shutdown timed out."),
        ):
            yield CounterMetricFamily(f"safeheal_gateway_log_records_{name}", doc, value=value)


class GatewayMetrics:
    """Request counters, errors and latency per model and version; log-queue health."""

    def __init__(self, log_stats: Callable[[], LogStats]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version")
        self.requests = Counter(
            "safeheal_gateway_predict_requests",
            "Predict requests routed to a model version.",
            labels,
            registry=self.registry,
        )
        self.rows = Counter(
            "safeheal_gateway_predict_rows",
            "Rows predicted.",
            labels,
            registry=self.registry,
        )
        self.errors = Counter(
            "safeheal_gateway_predict_errors",
            "Predict requests that failed on the server's side (model failed or unavailable).",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "safeheal_gateway_predict_latency_seconds",
            "Time from receiving a predict request's body to having its predictions.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "safeheal_gateway_rejected_requests",
            "Requests answered with a 4xx, by endpoint and error code.",
            ("endpoint", "code"),
            registry=self.registry,
        )
        self.feedback = Counter(
            "safeheal_gateway_feedback_labels",
            "Labels received through the feedback endpoint.",
            ("model",),
            registry=self.registry,
        )
        depth = Gauge(
            "safeheal_gateway_log_queue_depth",
            "Inference-log records waiting for the writer.",
            registry=self.registry,
        )
        depth.set_function(lambda: float(log_stats().depth))
        self.registry.register(_LogCollector(log_stats))
        self._children: dict[tuple[str, int], tuple[Counter, Counter, Counter, Histogram]] = {}

    def of(self, model: str, version: int) -> tuple[Counter, Counter, Counter, Histogram]:
        """(requests, rows, errors, latency) for one version, resolved once."""
        key = (model, version)
        children = self._children.get(key)
        if children is None:
            v = str(version)
            children = (
                self.requests.labels(model, v),
                self.rows.labels(model, v),
                self.errors.labels(model, v),
                self.latency.labels(model, v),
            )
            self._children[key] = children
        return children
