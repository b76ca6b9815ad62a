"""Counters and latency summaries, rendered in the Prometheus text format at `GET /metrics`.

In-process and lock-free: everything that records runs on the event loop. Labels are reason
codes and fixed names, never a token, code or order id.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

LATENCY_SAMPLES = 512


@dataclass(frozen=True, slots=True)
class Gauge:
    name: str
    help: str
    value: float
    labels: Mapping[str, str] | None = None


class Metrics:
    def __init__(self) -> None:
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._help: dict[str, str] = {}
        self._latency: dict[str, deque[float]] = {}
        self.gauges: list[Callable[[], Iterable[Gauge]]] = []

    def count(self, name: str, help_text: str, **labels: str) -> None:
        self._help[name] = help_text
        self._counters[(name, tuple(sorted(labels.items())))] += 1

    def observe_ms(self, name: str, help_text: str, value_ms: float) -> None:
        self._help[name] = help_text
        self._latency.setdefault(name, deque(maxlen=LATENCY_SAMPLES)).append(value_ms)

    def render(self) -> str:
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in sorted(self._counters.items()):
            if name not in seen:
                seen.add(name)
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
            lines.append(f"{name}{_labels(dict(labels))} {value:g}")
        for name, samples in sorted(self._latency.items()):
            ordered = sorted(samples)
            lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} summary"]
            for q in (0.5, 0.9, 0.99):
                index = min(len(ordered) - 1, int(q * len(ordered)))
                lines.append(f'{name}{{quantile="{q}"}} {ordered[index] / 1000:.6f}')
            lines.append(f"{name}_count {len(ordered)}")
        for provide in self.gauges:
            for gauge in provide():
                if gauge.name not in seen:
                    seen.add(gauge.name)
                    lines += [f"# HELP {gauge.name} {gauge.help}", f"# TYPE {gauge.name} gauge"]
                lines.append(f"{gauge.name}{_labels(gauge.labels or {})} {gauge.value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
