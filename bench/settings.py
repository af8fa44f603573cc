"""How big and how long: the full run's sizes, and --quick's small ones for a smoke run."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.wrk import Load


@dataclass
class Settings:
    runs: int = 3
    load: Load = field(default_factory=Load)
    warmup: float = 2.0  # seconds of wrk before an endpoint's measured runs
    quick: bool = False
    p1_customers: int = 100  # one delivery each: the download links wrk rotates over
    p2_customers: int = 100
    p2_sessions: int = 3000  # view sessions the reports rotate over (120 reports/min each)
    p2_drain_timeout: float = 180.0  # seconds to wait for queued reports to be stored
    p3_renders: int = 7  # pairs of renders (app, WeasyPrint alone): short, so more than --runs
    p3_repeat_opens: int = 100
    p4_customers: int = 100_000
    p4_events: int = 2_000_000
    p4_timeout: float = 300.0  # one recompute run may take this long before it is stopped
    p5_small: int = 10
    p5_large: int = 1000

    @classmethod
    def make(cls, *, quick: bool, runs: int | None, duration: float | None) -> Settings:
        settings = cls(quick=quick)
        if quick:
            settings = cls(
                quick=True,
                runs=1,
                load=Load(duration=3.0),
                warmup=1.0,
                p1_customers=10,
                p2_customers=10,
                p2_sessions=500,
                p2_drain_timeout=60.0,
                p3_renders=1,
                p3_repeat_opens=10,
                p4_customers=2_000,
                p4_events=40_000,
                p4_timeout=120.0,
                p5_small=5,
                p5_large=50,
            )
        if runs is not None:
            settings.runs = max(1, runs)
            settings.p3_renders = max(settings.p3_renders, settings.runs)
        if duration is not None:
            settings.load.duration = max(1.0, duration)
        return settings
