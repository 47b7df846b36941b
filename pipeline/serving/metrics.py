"""Prometheus metrics of one prediction server (its own registry: no global state).

    churn_requests_total{route,status}            requests answered, by route template
    churn_request_latency_seconds{route}          time from request to answer (histogram), without
                                                  408 and 499: those measure the client, not the server
    churn_connections_refused_total{reason}       connections closed before a request reached the app
    churn_request_instances                       instances per predict request (histogram)
    churn_prediction_score                        churn probabilities served (histogram)
    churn_unusual_inputs_total{kind,feature}      instances scored although outside what training saw
                                                  (kind out_of_range or unknown_category)
    churn_model_info{name,version,engine}         the model version being served
"""

from __future__ import annotations

import bisect
import itertools
import operator
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5)
INSTANCE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_SMALL = 8
UNTIMED_STATUSES = frozenset({408, 499})  # a slow or vanished client: its wait is not our latency
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class _Series:
    """One histogram series: a count per bucket (the last one above the top bound) and the sum,
    in Python ints (a NumPy element update costs several times a list's)."""

    __slots__ = ("bounds", "bound_list", "counts", "total")

    def __init__(self, bounds: np.ndarray, bound_list: list[float]) -> None:
        self.bounds = bounds
        self.bound_list = bound_list
        self.counts = [0] * (len(bound_list) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bound_list, value)] += 1
        self.total += value

    def observe_many(self, values: np.ndarray | list[float]) -> None:
        if len(values) <= _SMALL:  # NumPy's per-call overhead dominates for a few values
            for value in (values if isinstance(values, list) else values.tolist()):
                self.observe(value)
            return
        slots = self.bounds.searchsorted(values, side="left")  # the methods, without np.* wrappers
        binned = np.bincount(slots, minlength=len(self.counts)).tolist()
        self.counts = list(map(operator.add, self.counts, binned))
        self.total += float(np.add.reduce(values))


class _LoopCollector(Collector):
    """What the loop's counter and histogram share: one series per tuple of label values,
    made on first use by `_new_series`."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._series: dict[tuple[str, ...], Any] = {}

    def labels(self, *values: str) -> Any:
        """The series for these label values (created on first use)."""
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
            series = self._series[values] = self._new_series()
        return series

    def _new_series(self) -> Any:
        raise NotImplementedError


class LoopCounter(_LoopCollector):
    """A Prometheus counter for the event loop's thread: an increment is one addition
    (prometheus_client's Counter takes a lock for each). Same exposition, _created included.
    A series is [count, created]: add to its first item to count."""

    def labels(self, *values: str) -> list[float]:
        return super().labels(*values)

    def _new_series(self) -> list[float]:
        return [0.0, time.time()]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for values, (count, created) in list(self._series.items()):
            family.add_metric(list(values), count, created=created)
        yield family


class LoopHistogram(_LoopCollector):
    """A Prometheus histogram for the event loop's thread: an observation is one bisect and
    two additions (prometheus_client's Histogram takes a lock and walks the buckets in
    Python), and whole arrays go in with one np.searchsorted. Same exposition."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...],
                 labelnames: tuple[str, ...] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self.bounds = np.asarray(buckets, dtype=np.float64)
        self.bound_list = [float(b) for b in buckets]

    def labels(self, *values: str) -> _Series:
        return super().labels(*values)

    def _new_series(self) -> _Series:
        return _Series(self.bounds, self.bound_list)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def observe_many(self, values: np.ndarray | list[float]) -> None:
        self.labels().observe_many(values)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for values, series in list(self._series.items()):
            cumulative = list(itertools.accumulate(series.counts))
            buckets = [(floatToGoString(bound), float(count))
                       for bound, count in zip(self.bound_list, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric(list(values), buckets, series.total)
        yield family


class ServerMetrics:
    """The metrics one server exposes on /metrics."""

    def __init__(self, model_name: str, version_id: str, engine: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = LoopCounter("churn_requests", "Requests answered, by route template and HTTP status.",
                                    ("route", "status"))
        self.latency = LoopHistogram("churn_request_latency_seconds", "Time from request to answer.",
                                     LATENCY_BUCKETS, ("route",))
        self.instances = LoopHistogram("churn_request_instances", "Instances per predict request.",
                                       INSTANCE_BUCKETS)
        self.refused = Counter("churn_connections_refused", "Connections closed before a request reached "
                               "the app, by reason.", ["reason"], registry=self.registry)
        self.unusual = Counter("churn_unusual_inputs", "Instances scored with a value outside the training "
                               "range or a category outside the vocabulary (TF Serving scores them too).",
                               ["kind", "feature"], registry=self.registry)
        self.scores = LoopHistogram("churn_prediction_score", "Churn probabilities served.", SCORE_BUCKETS)
        for collector in (self.requests, self.latency, self.instances, self.scores):
            self.registry.register(collector)
        self._children: dict[tuple[str, int], tuple[list[float], _Series]] = {}
        self._instance_counts = self.instances.labels()
        self._score_counts = self.scores.labels()
        info = Info("churn_model", "The model version being served.", registry=self.registry)
        info.info({"name": model_name, "version": version_id, "engine": engine})

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (route, status)
        children = self._children.get(key)
        if children is None:  # the series of each pair, looked up once
            children = self._children[key] = (self.requests.labels(route, str(status)),
                                              self.latency.labels(route))
        children[0][0] += 1
        if status not in UNTIMED_STATUSES:
            children[1].observe(seconds)

    def observe_refused(self, reason: str) -> None:
        """Count one connection refused by the HTTP layer (pipeline.serving.connections)."""
        self.refused.labels(reason).inc()

    def observe_predictions(self, probabilities: np.ndarray | list[float]) -> None:
        """Record the instances and scores of one successful predict request."""
        self._instance_counts.observe(float(len(probabilities)))
        self._score_counts.observe_many(probabilities)

    def observe_unusual(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Count instances scored with out-of-range values or unknown categories."""
        for (kind, feature), count in counts.items():
            self.unusual.labels(kind, feature).inc(count)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
