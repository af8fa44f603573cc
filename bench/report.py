"""Figures: one printed line each, and the same figures as a markdown table."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

LINE = re.compile(
    r"^(?P<name>[^:]+): (?P<value>\S+) \(baseline: (?P<baseline>\S+), ratio: (?P<ratio>\S+)\)$"
)


@dataclass
class Figure:
    """One measured figure: its value, the baseline it is compared with, and what both are."""

    key: str  # P1..P5
    name: str  # the line's name: what is measured and its unit
    value: float
    baseline: float
    measures: str  # what the value is, for the markdown table
    baseline_is: str  # what the baseline is
    goal: str = ""
    note: str = ""  # runs, counts, anything a reader needs to trust the figure
    digits: int = 1

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    def _number(self, value: float) -> str:
        return f"{value:.{self.digits}f}"

    def line(self) -> str:
        ratio = self.ratio
        ratio_text = "n/a" if ratio is None else f"{ratio:.2f}"
        return (
            f"{self.name}: {self._number(self.value)} "
            f"(baseline: {self._number(self.baseline)}, ratio: {ratio_text})"
        )

    def markdown_row(self) -> str:
        ratio = self.ratio
        cells = [
            self.key,
            self.measures,
            self._number(self.value),
            f"{self._number(self.baseline)} ({self.baseline_is})",
            "n/a" if ratio is None else f"{ratio:.2f}",
            self.goal,
            self.note,
        ]
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def floor_figure(
    key: str,
    name: str,
    floors: list[float],
    baselines: list[float],
    measures: str,
    baseline_is: str,
) -> Figure:
    """A figure's floor: a bare route doing only the round trip the real one cannot avoid, in
    the same runs and against the same baseline (context for the goal, not a goal)."""
    return Figure(
        key=key,
        name=name,
        value=median(floors),
        baseline=median(baselines),
        measures=measures,
        baseline_is=baseline_is,
        goal=f"context for {key}'s goal",
        note=f"floor {spread(floors)}",
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def spread(values: Sequence[float], digits: int = 0) -> str:
    """The runs' values, for the notes: "runs 812, 790, 845"."""
    return "runs " + ", ".join(f"{v:.{digits}f}" for v in values)


def markdown_table(figures: Sequence[Figure]) -> str:
    head = [
        "| figure | what | value | baseline (same run) | ratio | goal | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [figure.markdown_row() for figure in figures])


def parse_line(line: str) -> tuple[str, float, float, float | None]:
    """(name, value, baseline, ratio) of a printed figure line; ValueError if it is not one."""
    match = LINE.match(line.strip())
    if not match:
        raise ValueError(f"not a figure line: {line!r}")
    ratio = match["ratio"]
    return (
        match["name"],
        float(match["value"]),
        float(match["baseline"]),
        None if ratio == "n/a" else float(ratio),
    )
