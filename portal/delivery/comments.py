"""Comments on a delivery: the customer's (from the portal) and the reps' replies.

Every comment is tied to the version number it was about: the version the customer was shown
when they wrote it; a reply is about the version of the comment it answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.delivery import passcodes
from portal.delivery.models import Comment, CommentAuthor, Delivery
from portal.delivery.services import current_version, get_delivery
from portal.delivery.viewer import delivery_is_gone
from portal.errors import NotFound, ValidationFailed
from portal.extensions import db
from portal.tasks.rules import COMMENT_FOLLOWUP
from portal.tasks.services import close_open_task
from portal.tracking import events
from portal.tracking.links import LinkGone
from portal.tracking.models import EventType

MAX_COMMENT_LENGTH = 2000
EXCERPT_LENGTH = 80
OPEN = "open"
RESOLVED = "resolved"


def clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("write a comment first", code="comment_empty", field="text")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            f"a comment may be at most {MAX_COMMENT_LENGTH} characters",
            code="comment_too_long",
            field="text",
            limit=MAX_COMMENT_LENGTH,
        )
    return text


def add_customer_comment(
    customer_id: int, delivery_id: int, text: str | None, grants: list[str] | None = None
) -> Comment:
    """A comment by customer_id on one of their deliveries.

    A delivery of another customer is NotFound, exactly like one that does not exist; a
    withdrawn or expired one is gone (410); one whose passcode the browser (its grants) has
    not entered is PasscodeRequired (portal.delivery.passcodes)."""
    delivery = db.session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.customer_id == customer_id)
    )
    if delivery is None:
        raise NotFound("delivery not found")
    if delivery_is_gone(delivery):
        raise LinkGone("delivery expired or revoked")
    if passcodes.locked(delivery, grants or []):
        raise passcodes.PasscodeRequired("this document asks for its passcode")
    text = clean_text(text)
    version = current_version(delivery)
    comment = Comment(
        customer_id=customer_id,
        delivery_id=delivery.id,
        version_number=version.number,
        author_type=CommentAuthor.CUSTOMER,
        text=text,
        status=OPEN,
        created_at=utcnow(),
    )
    db.session.add(comment)
    db.session.flush()
    events.record(
        events.NewEvent(
            customer_id=customer_id,
            type=EventType.COMMENT_CREATED,
            delivery_id=delivery.id,
            properties={
                "comment_id": comment.id,
                "version": version.number,
                "excerpt": text[:EXCERPT_LENGTH],
            },
        )
    )
    return comment


def add_staff_reply(user: User, delivery: Delivery, text: str | None) -> Comment:
    """A rep's (or their supervisor's) reply on a delivery they can see.

    The reply is about the version of the customer's latest comment (else the version shown
    now), and it resolves the customer's open comments on that delivery. Once none of the
    customer's comments is left unanswered, their "reply to the comment" task is done."""
    delivery = get_delivery(user, delivery.id)  # scoped: NotFound outside the user's customers
    text = clean_text(text)
    open_comments = list(
        db.session.scalars(
            select(Comment)
            .where(
                Comment.delivery_id == delivery.id,
                Comment.author_type == CommentAuthor.CUSTOMER,
            )
            .order_by(Comment.created_at.desc(), Comment.id.desc())
        )
    )
    version_number = (
        open_comments[0].version_number if open_comments else current_version(delivery).number
    )
    for comment in open_comments:
        if comment.status == OPEN:
            comment.status = RESOLVED
    reply = Comment(
        customer_id=delivery.customer_id,
        delivery_id=delivery.id,
        version_number=version_number,
        author_type=CommentAuthor.STAFF,
        staff_id=user.id,
        text=text,
        status=RESOLVED,
        created_at=utcnow(),
    )
    db.session.add(reply)
    db.session.flush()
    if not _has_open_comments(delivery.customer_id):
        close_open_task(delivery.customer_id, COMMENT_FOLLOWUP, now=reply.created_at)
    return reply


def _has_open_comments(customer_id: int) -> bool:
    return (
        db.session.scalar(
            select(Comment.id)
            .where(
                Comment.customer_id == customer_id,
                Comment.author_type == CommentAuthor.CUSTOMER,
                Comment.status == OPEN,
            )
            .limit(1)
        )
        is not None
    )


def comments_for(delivery_ids: Iterable[int]) -> dict[int, list[Comment]]:
    """The comments of many deliveries in one query, oldest first per delivery."""
    ids = sorted(set(delivery_ids))
    threads: dict[int, list[Comment]] = defaultdict(list)
    if not ids:
        return {}
    rows = db.session.scalars(
        select(Comment)
        .where(Comment.delivery_id.in_(ids))
        .options(joinedload(Comment.staff))
        .order_by(Comment.delivery_id, Comment.created_at, Comment.id)
    )
    for comment in rows:
        threads[comment.delivery_id].append(comment)
    return dict(threads)
