"""Summaries of measurements and the side-by-side tables the benchmarks print."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from rich.table import Table


@dataclass(frozen=True)
class Throughput:
    what: str
    batch: str  # how many events are in flight before the next wait, as the row spells it
    events: int  # events acknowledged within the time bound
    seconds: float
    complete: bool = True  # False: the phase hit its time bound

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Latency:
    what: str
    samples_s: list[float]
    expected: int  # how many samples were asked for (fewer: some never arrived in time)

    def quantile(self, q: int) -> float:
        """The q-th percentile (1..99, linear interpolation between the closest ranks)."""
        if len(self.samples_s) < 2:
            return self.samples_s[0] if self.samples_s else float("nan")
        return statistics.quantiles(self.samples_s, n=100, method="inclusive")[q - 1]

    @property
    def min(self) -> float:
        return min(self.samples_s) if self.samples_s else float("nan")

    @property
    def max(self) -> float:
        return max(self.samples_s) if self.samples_s else float("nan")


def ratio(value: float, baseline: float) -> str:
    if baseline <= 0 or value != value or baseline != baseline:  # zero or NaN
        return "-"
    return f"{value / baseline:.2f}x"


def throughput_table(title: str, rows: list[tuple[Throughput, Throughput | None]]) -> Table:
    """Each row beside its baseline (None: the row is a baseline)."""
    table = Table(title=title, title_justify="left")
    for column in ("what", "in flight", "events", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_column("vs bare producer", justify="right")
    for row, baseline in rows:
        table.add_row(
            row.what,
            row.batch,
            f"{row.events:,}" + ("" if row.complete else " (timed out)"),
            f"{row.seconds:.3f}",
            f"{row.per_second:,.0f}",
            "baseline" if baseline is None else ratio(row.per_second, baseline.per_second),
        )
    return table


def latency_table(title: str, rows: list[tuple[Latency, Latency | None]]) -> Table:
    """Milliseconds; each row beside its baseline (None: no ratio for this row)."""
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    for column in ("n", "min", "p50", "p95", "p99", "max", "p50 vs base", "p99 vs base"):
        table.add_column(column, justify="right")
    for row, baseline in rows:
        p50, p95, p99 = (row.quantile(q) * 1000 for q in (50, 95, 99))
        n = f"{len(row.samples_s)}" + (
            "" if len(row.samples_s) == row.expected else f"/{row.expected}"
        )
        table.add_row(
            row.what,
            n,
            f"{row.min * 1000:.2f}",
            f"{p50:.2f}",
            f"{p95:.2f}",
            f"{p99:.2f}",
            f"{row.max * 1000:.2f}",
            "-" if baseline is None else ratio(row.quantile(50), baseline.quantile(50)),
            "-" if baseline is None else ratio(row.quantile(99), baseline.quantile(99)),
        )
    return table


def throughput_vs_table(
    title: str, rows: list[Throughput], baselines: list[tuple[str, Throughput]]
) -> Table:
    """Each row with one ratio column per named baseline (a row that is a baseline says so)."""
    table = Table(title=title, title_justify="left")
    for column in ("what", "batch", "events", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, _ in baselines:
        table.add_column(f"vs {name}", justify="right")
    for row in rows:
        table.add_row(
            row.what,
            row.batch,
            f"{row.events:,}" + ("" if row.complete else " (timed out)"),
            f"{row.seconds:.3f}",
            f"{row.per_second:,.0f}",
            *(
                "baseline" if row is baseline else ratio(row.per_second, baseline.per_second)
                for _, baseline in baselines
            ),
        )
    return table
