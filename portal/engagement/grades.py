"""Grades from scores (DESIGN.md): A at 60 points or more, B at 30 or more, C below."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import case

GRADE_A_MIN: Final = 60
GRADE_B_MIN: Final = 30


def grade_for(score: int) -> str:
    if score >= GRADE_A_MIN:
        return "A"
    if score >= GRADE_B_MIN:
        return "B"
    return "C"


def grade_case(score: Any) -> Any:
    """The same thresholds as a SQL CASE over a score expression."""
    return case((score >= GRADE_A_MIN, "A"), (score >= GRADE_B_MIN, "B"), else_="C")
