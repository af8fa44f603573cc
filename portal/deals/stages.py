"""The pipeline's stages, their default probabilities and ranges, and the evidence each needs.

Keys are English; labels are translated (zh_CN is the default language)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l


class Stage(enum.StrEnum):
    INITIAL_CONTACT = "initial_contact"
    NEEDS_CONFIRMED = "needs_confirmed"
    DEMO = "demo"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class StageSpec:
    stage: Stage
    label: object  # a lazy string
    probability: int  # default, in percent
    low: int  # a team may tune the probability within [low, high]
    high: int
    evidence: str  # the evidence kind needed to ENTER the stage ("" for won/lost)
    evidence_label: object


SPECS: dict[str, StageSpec] = {
    s.stage.value: s
    for s in (
        StageSpec(
            Stage.INITIAL_CONTACT,
            _l("Initial contact"),
            10,
            5,
            15,
            "meeting_notes",
            _l("meeting notes"),
        ),
        StageSpec(
            Stage.NEEDS_CONFIRMED,
            _l("Needs confirmed"),
            35,
            25,
            45,
            "requirement_list",
            _l("the customer's written requirement list"),
        ),
        StageSpec(
            Stage.DEMO,
            _l("Tailored demo"),
            60,
            50,
            70,
            "demo_record",
            _l("a record of the tailored demo"),
        ),
        StageSpec(
            Stage.NEGOTIATION,
            _l("Negotiation"),
            80,
            70,
            85,
            "quote",
            _l("the price negotiation record or quote"),
        ),
        StageSpec(Stage.WON, _l("Won"), 100, 100, 100, "", ""),
        StageSpec(Stage.LOST, _l("Lost"), 0, 0, 0, "", ""),
    )
}

# The open stages, in order: a deal moves forward one at a time.
OPEN_STAGES: tuple[str, ...] = (
    Stage.INITIAL_CONTACT.value,
    Stage.NEEDS_CONFIRMED.value,
    Stage.DEMO.value,
    Stage.NEGOTIATION.value,
)
CLOSED_STAGES: tuple[str, ...] = (Stage.WON.value, Stage.LOST.value)
EVIDENCE_KINDS: dict[str, str] = {SPECS[s].evidence: s for s in OPEN_STAGES}


def is_open(stage: str) -> bool:
    return stage in OPEN_STAGES


def next_stage(stage: str) -> str | None:
    """The open stage after `stage`, or None from negotiation (which ends in won/lost)."""
    index = OPEN_STAGES.index(stage)
    return OPEN_STAGES[index + 1] if index + 1 < len(OPEN_STAGES) else None


def previous_stage(stage: str) -> str | None:
    index = OPEN_STAGES.index(stage)
    return OPEN_STAGES[index - 1] if index > 0 else None


def evidence_in_english(stage: str) -> str:
    """What entering `stage` needs, in English (service messages speak English)."""
    with force_locale("en"):
        return str(SPECS[stage].evidence_label)


def label(stage: str) -> str:
    spec = SPECS.get(stage)
    return str(spec.label) if spec else stage
