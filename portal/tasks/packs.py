"""Solution packs: the solution template sent when a customer of an industry views a case
study (case_study_push). The admin page and `flask tasks set-pack` both use these."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.authority import require_admin
from portal.accounts.models import User
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.library.models import Template, TemplateKind
from portal.tasks.models import SolutionPack


def solution_templates() -> list[Template]:
    """Templates that can be a solution pack: kind solution, not archived."""
    return list(
        db.session.scalars(
            select(Template)
            .where(Template.kind == TemplateKind.SOLUTION.value, Template.archived_at.is_(None))
            .order_by(Template.name)
        )
    )


def list_packs() -> list[SolutionPack]:
    return list(db.session.scalars(select(SolutionPack).order_by(SolutionPack.industry)))


def set_pack(industry: str, template_id: int, by: User | None = None) -> SolutionPack:
    """Deliver template_id when a customer of industry views a case study; `by` None: the
    CLI."""
    require_admin(by, "change the solution packs")
    industry = (industry or "").strip()
    if not industry or len(industry) > 80:
        raise ValidationFailed(
            "the industry must be 1 to 80 characters", code="bad_industry", field="industry"
        )
    if db.session.get(Template, template_id) is None:
        raise NotFound(f"no template {template_id}", field="template_id")
    pack = db.session.scalar(select(SolutionPack).where(SolutionPack.industry == industry))
    if pack is None:
        pack = SolutionPack(industry=industry, template_id=template_id)
        db.session.add(pack)
    else:
        pack.template_id = template_id
    db.session.flush()
    return pack


def remove_pack(pack_id: int, by: User | None = None) -> bool:
    require_admin(by, "change the solution packs")
    pack = db.session.get(SolutionPack, pack_id)
    if pack is None:
        return False
    db.session.delete(pack)
    db.session.flush()
    return True
