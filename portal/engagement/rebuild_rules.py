"""Each event scoring rule as one SQL query over the stored events, for `scores recompute`.

These are the set-based twins of portal.engagement.triggers (which the live handler runs one
event at a time): for each rule, a query returns every event that would make the rule pay, with
the scope it pays for and the reason the ledger records. portal.engagement.recompute then keeps
the first event of each scope, applies the cap in event order and inserts the rows.

"Before an event" means, as in the live handler, the customer's events with a smaller id (the
order they were stored in), not an earlier occurred_at: a report that arrived late with an
earlier time is scored where it arrived. tests/engagement/test_score_rebuild_equivalence.py
checks that both give the same ledger on varied, shuffled histories.

Every query returns the columns: customer_id, event_id, at, scope, reason. `within(column)` is
the SQL condition selecting the customers being rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from portal.engagement.facts import EXTERNAL_PREFIX, INTERACTION_TYPES, OPEN_TYPES
from portal.engagement.portable_sql import PortableSQL
from portal.engagement.rules import RuleConfig, deep_read_page_ms
from portal.tracking.models import EventType

Within = Callable[[str], str]

# Temporary tables the rebuild fills before running the rule queries (see recompute.py).
VERSION_TAGS = "recompute_version_tags"  # (template_id, number, key, tag) of every version
FREQUENT_PICKS = "recompute_frequent_picks"  # frequent_interaction's paid events, in order


@dataclass
class RuleQuery:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    expanding: tuple[str, ...] = ()  # list parameters


def _quoted(values: frozenset[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))  # trusted constants only


def _text(sql: PortableSQL, expr: str) -> str:
    return f"CAST({expr} AS TEXT)" if not sql.postgres else f"CAST({expr} AS VARCHAR)"


def _delivery_scope(sql: PortableSQL) -> str:
    return (
        f"CASE WHEN e.delivery_id IS NULL THEN 'event:' || {_text(sql, 'e.id')} "
        f"ELSE 'delivery:' || {_text(sql, 'e.delivery_id')} END"
    )


def _list(rule: RuleConfig, name: str) -> list[str]:
    return [str(v) for v in rule.params.get(name) or []]


def _kind_opened(
    rule: RuleConfig, sql: PortableSQL, within: Within, event_type: str, name: str
) -> str:
    """Events of event_type on a delivery whose template kind is in the rule's kinds."""
    return f"""
        SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
               'delivery:' || {_text(sql, "e.delivery_id")} AS scope,
               {sql.json_object(("kind", "t.kind"))} AS reason
        FROM events e
        JOIN deliveries d ON d.id = e.delivery_id
        JOIN templates t ON t.id = d.template_id
        WHERE e.type = '{event_type}' AND t.kind IN :{name} AND {within("e.customer_id")}
    """


def pricing_viewed(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    section_key = "CASE WHEN e.section LIKE '#%' THEN e.section ELSE '#' || e.section END"
    page_reason = [("tag", "x.tag"), ("page", "x.page"), ("session_id", "x.session_id")]
    reason = (
        f"CASE WHEN x.section IS NOT NULL AND x.section <> '' "
        f"THEN {sql.json_object(*page_reason, ('section', 'x.section'))} "
        f"ELSE {sql.json_object(*page_reason)} END"
    )
    query = f"""
        {_kind_opened(rule, sql, within, EventType.LINK_OPENED, "pv_kinds")}
        UNION ALL
        SELECT x.customer_id, x.event_id, x.at, x.scope, {reason} AS reason
        FROM (
            SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at, e.page, e.section,
                   e.session_id, {_delivery_scope(sql)} AS scope, MIN(vt.tag) AS tag
            FROM events e
            JOIN view_sessions vs ON vs.id = e.session_id
            JOIN deliveries d ON d.id = vs.delivery_id
            JOIN {VERSION_TAGS} vt
              ON vt.template_id = d.template_id AND vt.number = vs.version_number
             AND (vt.key = {_text(sql, "e.page")}
                  OR (e.section <> '' AND (vt.key = e.section OR vt.key = {section_key})))
            WHERE e.type = '{EventType.PAGE_VIEWED}' AND vt.tag IN :pv_tags
              AND {within("e.customer_id")}
            GROUP BY e.customer_id, e.id, e.occurred_at, e.page, e.section, e.session_id,
                     e.delivery_id
        ) x
    """
    return RuleQuery(
        query,
        {"pv_kinds": _list(rule, "kinds"), "pv_tags": _list(rule, "tags")},
        ("pv_kinds", "pv_tags"),
    )


def doc_opened(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    return RuleQuery(f"""
        SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
               'delivery:' || {_text(sql, "e.delivery_id")} AS scope,
               {sql.json_object(("delivery_id", "e.delivery_id"))} AS reason
        FROM events e
        WHERE e.type = '{EventType.LINK_OPENED}' AND e.delivery_id IS NOT NULL
          AND {within("e.customer_id")}
    """)


def _session_reports(within: Within) -> str:
    """The page reports of sessions that still exist, as the live handler's facts see them."""
    return f"""
        FROM events e
        JOIN view_sessions vs ON vs.id = e.session_id
        JOIN deliveries d ON d.id = vs.delivery_id
        WHERE e.type = '{EventType.PAGE_VIEWED}' AND {within("e.customer_id")}
    """


def long_read(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    min_ms = float(rule.params.get("min_seconds", 120)) * 1000
    return RuleQuery(f"""
        SELECT x.customer_id, x.event_id, x.at,
               'session:' || {_text(sql, "x.session_id")} AS scope,
               {sql.json_object(("read_seconds", "x.read_ms / 1000"))} AS reason
        FROM (
            SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at, e.session_id,
                   SUM(COALESCE(e.duration_ms, 0)) OVER (
                       PARTITION BY e.session_id ORDER BY e.id ROWS UNBOUNDED PRECEDING
                   ) AS read_ms
            {_session_reports(within)}
        ) x
        WHERE x.read_ms >= {min_ms!r}
    """)


def deep_read(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    ratio = float(rule.params.get("ratio", 0.8))
    min_ms = deep_read_page_ms(rule)
    # A page counts from the report whose credited time first brings its session total for
    # that page to min_ms (x: running ms per page; w: that crossing; y: crossings so far). The
    # count of pages grows only at a crossing: the first report reaching the ratio is one.
    return RuleQuery(f"""
        SELECT y.customer_id, y.event_id, y.at,
               'session:' || {_text(sql, "y.session_id")} AS scope,
               {sql.json_object(("pages", "y.pages"), ("page_count", "y.page_count"))} AS reason
        FROM (
            SELECT w.*, SUM(w.crossed) OVER (
                       PARTITION BY w.session_id ORDER BY w.event_id ROWS UNBOUNDED PRECEDING
                   ) AS pages
            FROM (
                SELECT x.*,
                       CASE WHEN x.page_ms >= {min_ms!r} AND x.page_ms - x.ms < {min_ms!r}
                            THEN 1 ELSE 0 END AS crossed
                FROM (
                    SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at, e.session_id,
                           tv.page_count, COALESCE(e.duration_ms, 0) AS ms,
                           SUM(COALESCE(e.duration_ms, 0)) OVER (
                               PARTITION BY e.session_id, e.page ORDER BY e.id
                               ROWS UNBOUNDED PRECEDING
                           ) AS page_ms
                    FROM events e
                    JOIN view_sessions vs ON vs.id = e.session_id
                    JOIN deliveries d ON d.id = vs.delivery_id
                    JOIN template_versions tv
                      ON tv.template_id = d.template_id AND tv.number = vs.version_number
                    WHERE e.type = '{EventType.PAGE_VIEWED}' AND e.page IS NOT NULL
                      AND tv.page_count > 0 AND e.page BETWEEN 1 AND tv.page_count
                      AND {within("e.customer_id")}
                ) x
            ) w
        ) y
        WHERE y.crossed = 1 AND y.pages >= {ratio!r} * y.page_count
    """)


def brochure_downloaded(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    return RuleQuery(
        _kind_opened(rule, sql, within, EventType.DOC_DOWNLOADED, "bd_kinds"),
        {"bd_kinds": _list(rule, "kinds")},
        ("bd_kinds",),
    )


def case_study_viewed(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    tag = sql.json_text("e.properties", "content_tag")
    return RuleQuery(
        f"""
        {_kind_opened(rule, sql, within, EventType.LINK_OPENED, "cs_kinds")}
        UNION ALL
        SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
               {_delivery_scope(sql)} AS scope, {sql.json_object(("tag", tag))} AS reason
        FROM events e
        WHERE e.type = '{EventType.LINK_CLICKED}' AND {tag} IN :cs_tags
          AND {within("e.customer_id")}
        """,
        {"cs_kinds": _list(rule, "kinds"), "cs_tags": _list(rule, "tags")},
        ("cs_kinds", "cs_tags"),
    )


def comment_created(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    comment = sql.json_text("e.properties", "comment_id")
    return RuleQuery(f"""
        SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
               CASE WHEN {comment} IS NULL THEN 'event:' || {_text(sql, "e.id")}
                    ELSE 'comment:' || {_text(sql, comment)} END AS scope,
               {sql.json_object(("delivery_id", "e.delivery_id"))} AS reason
        FROM events e
        WHERE e.type = '{EventType.COMMENT_CREATED}' AND {within("e.customer_id")}
    """)


def return_visit(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    previous = (
        "MAX(e.occurred_at) OVER (PARTITION BY e.customer_id ORDER BY e.id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    )
    return RuleQuery(f"""
        SELECT x.customer_id, x.event_id, x.at, 'day:' || x.day AS scope,
               {sql.json_object(("day", "x.day"), ("previous_day", "x.previous_day"))} AS reason
        FROM (
            SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
                   {sql.local_day("e.occurred_at")} AS day,
                   {sql.local_day(previous)} AS previous_day
            FROM events e
            WHERE e.type IN ({_quoted(OPEN_TYPES)}) AND {within("e.customer_id")}
        ) x
        WHERE x.previous_day IS NOT NULL AND x.day > x.previous_day
    """)


def interaction(alias: str) -> str:
    """The SQL twin of facts.is_interaction for events aliased alias."""
    return (
        f"({alias}.type IN ({_quoted(INTERACTION_TYPES)}) "
        f"OR {alias}.type LIKE '{EXTERNAL_PREFIX}%')"
    )


def frequent_interaction(rule: RuleConfig, sql: PortableSQL, within: Within) -> RuleQuery:
    """The events chosen beforehand (recompute._pick_frequent), each a scope of its own."""
    days = int(rule.params.get("days", 7))
    return RuleQuery(f"""
        SELECT p.customer_id, p.event_id, p.at, 'event:' || {_text(sql, "p.event_id")} AS scope,
               {sql.json_object(("interactions", "p.interactions"), ("days", str(days)))}
               AS reason
        FROM {FREQUENT_PICKS} p
    """)


RuleBuilder = Callable[[RuleConfig, PortableSQL, Within], RuleQuery]

# In the live handler's order (triggers.EVENT_TRIGGERS): for one event, rules pay in this order.
EVENT_RULES: dict[str, RuleBuilder] = {
    "pricing_viewed": pricing_viewed,
    "doc_opened": doc_opened,
    "long_read": long_read,
    "deep_read": deep_read,
    "brochure_downloaded": brochure_downloaded,
    "case_study_viewed": case_study_viewed,
    "comment_created": comment_created,
    "return_visit": return_visit,
    "frequent_interaction": frequent_interaction,
}
