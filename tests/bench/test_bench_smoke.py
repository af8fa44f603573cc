"""`python -m bench --quick` runs end to end and prints figure lines that parse (not timed).

P5 (SQL statements per page at a small and a larger size) must be flat, and P3's repeat opens
must render nothing. Timings are printed but never asserted. The harness runs on the suite's
database (its own schema on PostgreSQL, a file on SQLite), with local storage and inline jobs,
so that it needs nothing the rest of the suite does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from bench.report import parse_line
from tests.multinode.cluster import venv_run
from tests.support import skip_or_fail

# With both passes, the PostgreSQL one (the bench's own default, the production target) runs it:
# what it checks (the harness runs end to end, statement counts flat, no repeat renders) is
# the same on SQLite, where the read-model tests count statements too, and each run cost
# ~45 s of CPU. Run alone, or on SQLite alone, it runs there.
pytestmark = [
    pytest.mark.bench,
    pytest.mark.both_databases,
    pytest.mark.only_in_pass("postgresql"),
]


@pytest.mark.long(seconds=22)
def test_quick_bench_prints_parsable_figures_p5_flat_and_no_repeat_renders(tmp_path: Path):
    url = os.environ.get("PORTAL_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        skip_or_fail(f"database {url} unreachable: {exc.orig}")
    finally:
        engine.dispose()
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")}
    printed = venv_run(
        env,
        "python",
        "-m",
        "bench",
        "--quick",
        "--only",
        "P5,P3",
        "--storage",
        "local",
        "--redis-url",
        "none",
        "--database-url",
        url,
        "--markdown",
        timeout=600,
    )
    lines = [line for line in printed.splitlines() if line.startswith("P")]
    figures = {
        name: (value, baseline, ratio) for name, value, baseline, ratio in map(parse_line, lines)
    }
    assert len(figures) == 5, printed

    p5 = {name: figure for name, figure in figures.items() if name.startswith("P5")}
    assert len(p5) == 3, figures
    for name, (value, baseline, ratio) in p5.items():
        assert value > 0, name
        assert value == baseline, f"{name}: {value} statements vs {baseline} (not flat)"
        assert ratio == 1.0, name

    renders = [figure for name, figure in figures.items() if name.startswith("P3 renders")]
    assert len(renders) == 1, figures
    repeat, first, _ = renders[0]
    assert first >= 1, "the send and first open should have rendered"
    assert repeat == 0, f"{repeat} renders on repeat opens"

    assert "| figure | what | value |" in printed  # --markdown
