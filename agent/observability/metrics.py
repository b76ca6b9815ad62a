"""Metrics at `GET /metrics`, exposed with `prometheus-client` (one registry per agent).

- `count()` and `observe_ms()` record in-process events (counters and latency histograms);
- `providers` yield values read at scrape time (gauges, and counters kept elsewhere, such as door
  alarms or the hub link's reconnects), each `Sample` saying which it is;
- `refreshers` run before each scrape to read what lives in the database (outbox depth, the
  locker's KPIs), so a value never comes from a cache that a restart or a lost link made stale.

Labels are reason codes and fixed names, never a token, code or order id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# `_created` series would double the output, and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

# Help texts of the in-process counters, so a counter restored at start reads as it will.
COUNTER_HELP = {
    "locker_scans_total": "Scanned codes by source and result (reason code when refused).",
    "locker_typed_code_pickups_total": "Typed-code pickups by result (reason code when refused).",
}

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True, slots=True)
class Gauge:
    """One value read at scrape time; `kind="counter"` for a count that only grows."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] | None = None
    kind: Literal["gauge", "counter"] = "gauge"


@dataclass(frozen=True, slots=True)
class HistogramValue:
    """A histogram kept elsewhere (e.g. derived from the database): cumulative buckets."""

    name: str
    help: str
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count), +Inf last
    sum_value: float


Sample = Gauge | HistogramValue


class _ProvidedValues(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        grouped: dict[str, list[Gauge]] = defaultdict(list)
        for provide in self._metrics.gauges:
            for sample in provide():
                if isinstance(sample, HistogramValue):
                    yield _histogram(sample)
                else:
                    grouped[sample.name].append(sample)
        for name, samples in grouped.items():
            yield _family(name, samples)


def _family(name: str, samples: list[Gauge]) -> Metric:
    first = samples[0]
    labels = sorted((first.labels or {}).keys())
    family: GaugeMetricFamily | CounterMetricFamily
    if first.kind == "counter":
        family = CounterMetricFamily(name, first.help, labels=labels)
    else:
        family = GaugeMetricFamily(name, first.help, labels=labels)
    for sample in samples:
        values = [(sample.labels or {})[k] for k in labels]
        family.add_metric(values, sample.value)
    return family


def _histogram(sample: HistogramValue) -> Metric:
    family = HistogramMetricFamily(sample.name, sample.help)
    buckets = [(_bound(b), float(c)) for b, c in sample.buckets]
    family.add_metric([], buckets=buckets, sum_value=sample.sum_value)
    return family


def _bound(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return str(int(value)) if value.is_integer() else repr(value)


class Metrics:
    """The agent's Prometheus metrics: counters, histograms and gauges read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self.gauges: list[Callable[[], Iterable[Sample]]] = []
        self.refreshers: list[Callable[[], Awaitable[None]]] = []
        self.registry.register(_ProvidedValues(self))

    def _counter(self, name: str, help_text: str, label_names: Iterable[str]) -> Counter:
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(
                name.removesuffix("_total"), help_text, sorted(label_names), registry=self.registry
            )
            self._counters[name] = counter
        return counter

    def count(self, name: str, help_text: str, **labels: str) -> None:
        """Add one to counter `name` (ending in `_total`) with these labels."""
        counter = self._counter(name, help_text, labels)
        (counter.labels(**labels) if labels else counter).inc()

    def counter_values(self) -> list[tuple[str, str, float]]:
        """(name, labels as JSON, value) of every in-process counter, to persist."""
        rows = []
        for name, counter in self._counters.items():
            for family in counter.collect():
                for sample in family.samples:
                    if sample.name == name:
                        labels = json.dumps(sample.labels, sort_keys=True)
                        rows.append((name, labels, sample.value))
        return rows

    def restore(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """Start counters from persisted values (at start, before anything counts)."""
        for name, labels_json, value in rows:
            labels = json.loads(labels_json)
            help_text = COUNTER_HELP.get(name, name.replace("_", " "))
            try:
                counter = self._counter(name, help_text, labels)
                (counter.labels(**labels) if labels else counter).inc(value)
            except ValueError:
                continue  # the label set changed between versions: start that one afresh

    def observe_ms(self, name: str, help_text: str, value_ms: float) -> None:
        """Record a duration in the histogram `name` (seconds, as Prometheus expects)."""
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = Histogram(name, help_text, buckets=LATENCY_BUCKETS, registry=self.registry)
            self._histograms[name] = histogram
        histogram.observe(value_ms / 1000)

    async def render(self) -> bytes:
        """The exposition text, after reading what lives in the database."""
        for refresh in self.refreshers:
            await refresh()
        return generate_latest(self.registry)
