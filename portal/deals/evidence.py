"""Evidence for a stage: a note and optionally a file kept in object storage."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal.accounts.models import User
from portal.deals.models import Deal, DealEvidence
from portal.deals.scope import require_work
from portal.deals.stages import OPEN_STAGES, SPECS, evidence_in_english
from portal.errors import NotFound, PayloadTooLarge, ValidationFailed
from portal.extensions import db
from portal.library.storage import ObjectNotFound, get_storage
from portal.library.uploads import safe_filename

MAX_NOTE = 20_000


@dataclass
class EvidenceInput:
    stage: str
    note: str = ""
    filename: str | None = None
    data: bytes | None = None
    content_type: str | None = None


def evidence_key(deal_id: int, filename: str) -> str:
    """deals/<id>/evidence/<uuid>-<name>; storage keys are ASCII, so other letters become _."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[-100:].lstrip(".") or "file"
    return f"deals/{deal_id}/evidence/{uuid.uuid4().hex}-{ascii_name}"


def check(evidence: EvidenceInput) -> None:
    if evidence.stage not in OPEN_STAGES:
        raise ValidationFailed(
            f"stage must be one of {', '.join(OPEN_STAGES)}", code="bad_stage", field="stage"
        )
    note = (evidence.note or "").strip()
    if not note and not evidence.data:
        raise ValidationFailed(
            f"evidence for {evidence.stage} needs {evidence_in_english(evidence.stage)}: "
            "a note or a file",
            code="evidence_required",
            field="note",
        )
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            f"note is longer than {MAX_NOTE} characters",
            code="note_too_long",
            field="note",
            limit=MAX_NOTE,
        )
    if evidence.data is not None and len(evidence.data) > current_app.config["UPLOAD_MAX_BYTES"]:
        raise PayloadTooLarge("file is larger than the upload limit")


def add_evidence(deal: Deal, user: User, evidence: EvidenceInput) -> DealEvidence:
    """Store the evidence; the file goes to object storage before the row is flushed.

    Only who may work the deal adds to it (portal.deals.scope.require_work)."""
    require_work(user, deal)
    check(evidence)
    row = DealEvidence(
        deal_id=deal.id,
        stage=evidence.stage,
        kind=SPECS[evidence.stage].evidence,
        note=(evidence.note or "").strip(),
        uploaded_by_id=user.id,
    )
    if evidence.data:
        name = safe_filename(evidence.filename or "evidence")
        key = evidence_key(deal.id, name)
        content_type = (evidence.content_type or "application/octet-stream")[:120]
        get_storage().put(key, evidence.data, content_type)
        row.storage_key = key
        row.filename = name
        row.content_type = content_type
        row.size = len(evidence.data)
        row.sha256 = hashlib.sha256(evidence.data).hexdigest()
    db.session.add(row)
    db.session.flush()
    return row


def has_evidence(deal: Deal, stage: str) -> bool:
    found = db.session.scalar(
        select(DealEvidence.id)
        .where(DealEvidence.deal_id == deal.id, DealEvidence.stage == stage)
        .limit(1)
    )
    return found is not None


def evidence_of(deal: Deal) -> list[DealEvidence]:
    return list(
        db.session.scalars(
            select(DealEvidence)
            .where(DealEvidence.deal_id == deal.id)
            .order_by(DealEvidence.at, DealEvidence.id)
        )
    )


def evidence_file(deal: Deal, evidence_id: int) -> tuple[DealEvidence, bytes]:
    """An evidence row of this deal with its file; NotFound when it has none."""
    row = db.session.scalar(
        select(DealEvidence).where(DealEvidence.id == evidence_id, DealEvidence.deal_id == deal.id)
    )
    if row is None or not row.storage_key:
        raise NotFound("evidence file not found")
    try:
        return row, get_storage().get(row.storage_key)
    except ObjectNotFound:
        raise NotFound("evidence file not found") from None
