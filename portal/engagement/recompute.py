"""Rebuilding scores: `flask --app wsgi scores recompute [--customer ID] [--ledger-only]`.

Set-based: the database does the work, a handful of statements per group of customers, whatever
the number of events; no Python loop over events.

* default, "from events": for each group of customers (an id range, one transaction, their rows
  locked like the live handler locks them, so a recompute can run while events arrive):
  1. delete their ledger rows, except the clock's (no_reply_3d, written by `flask tick`: they
     record time windows that no event can rebuild);
  2. fill two small temporary tables: the content tags of every template version (for
     pricing_viewed) and the events frequent_interaction pays for (that rule's "not again
     within N days of a payment" depends on its own earlier payments: it is chosen in rounds,
     one INSERT … SELECT per payment the cap allows, each round for every customer at once);
  3. insert every new ledger row with ONE INSERT … SELECT: per rule, the query of
     portal.engagement.rebuild_rules finds the events that pay, window functions keep the first
     event of each scope (per delivery, session, day, comment, …; "once" for rules that are not
     repeatable) and clamp the running total to the rule's cap in event order; the profile
     rules (senior_title, target_industry) pay on the customer's first event. Rows are inserted
     in the order the live handler writes them (event id, then rule), so a recompute with
     unchanged rules gives back the same ledger: rule, points, event, time and order;
  4. set score and grade from the ledger (one UPDATE), and the grade-A crossings
     (portal.engagement.crossings: delete and insert again from the ledger).
  After a rule edit, a recompute applies the new points everywhere, at the new rule version.
* `--ledger-only`: only step 4, trusting the ledger (repairs a score changed by hand).

"Before an event" means a smaller event id (the order events were stored in), as in the live
handler; tests/engagement/test_score_rebuild_equivalence.py compares both on shuffled histories.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, text
from sqlalchemy.engine import Connection

from portal import jobs
from portal.customers.models import Customer
from portal.db_types import UTCDateTime, utcnow
from portal.engagement.crossings import refresh_crossings
from portal.engagement.facts import UNSCORED_TYPES, timezone
from portal.engagement.grades import grade_case
from portal.engagement.ledger import _expire_loaded, refresh_scores
from portal.engagement.portable_sql import PortableSQL
from portal.engagement.rebuild_rules import EVENT_RULES, FREQUENT_PICKS, VERSION_TAGS, interaction
from portal.engagement.rules import CLOCK_RULES, RuleConfig, active_rules
from portal.engagement.triggers import PROFILE_TRIGGERS
from portal.extensions import db
from portal.library.models import TemplateVersion

CUSTOMER_GROUP = (
    200_000  # customers rebuilt per transaction (each rule reads the events once per group)
)
WORK_MEM = "256MB"  # PostgreSQL, for the rebuild's transaction only
MAX_ROUNDS = 1_000  # frequent_interaction payments per customer when its cap is off
PROFILE_TITLES = "recompute_profile_titles"
PROFILE_INDUSTRIES = "recompute_profile_industries"
FREQUENT_CANDIDATES = "recompute_frequent_candidates"
FIRST_EVENTS = "recompute_first_events"  # each customer's first stored event
NEW_LEDGER = "recompute_new_ledger"  # the group's ledger as the rules make it now


@dataclass
class RecomputeResult:
    customers: int = 0
    events: int = 0
    entries: int = 0


@dataclass(frozen=True)
class Group:
    """Customers rebuilt together: an id range, or an explicit list (--customer)."""

    ids: tuple[int, ...] | None = None
    low: int = 0
    high: int = 0
    size: int = 0

    def within(self, column: str) -> str:
        if self.ids is not None:
            return f"{column} IN :group_ids"
        return f"{column} BETWEEN :group_low AND :group_high"

    def params(self) -> dict[str, Any]:
        if self.ids is not None:
            return {"group_ids": list(self.ids)}
        return {"group_low": self.low, "group_high": self.high}

    @property
    def expanding(self) -> tuple[str, ...]:
        return ("group_ids",) if self.ids is not None else ()


def recompute(
    customer_ids: list[int] | None = None, *, from_events: bool = True
) -> RecomputeResult:
    """Rebuild the scores of these customers (None: all), committing per group."""
    result = RecomputeResult()
    if not from_events:
        if customer_ids is None:
            refresh_scores(None)
            result.customers = db.session.scalar(select(func.count(Customer.id))) or 0
        else:
            result.customers = len(refresh_scores(customer_ids))
        jobs.commit()
        return result
    for group in _groups(customer_ids):
        _rebuild(group, result)
        jobs.commit()
    return result


def _groups(customer_ids: list[int] | None) -> Iterator[Group]:
    if customer_ids is not None:
        ids = tuple(
            db.session.scalars(
                select(Customer.id)
                .where(Customer.id.in_(sorted(set(customer_ids))))
                .order_by(Customer.id)
            )
        )
        if ids:
            yield Group(ids=ids, size=len(ids))
        return
    ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id)))
    for start in range(0, len(ids), CUSTOMER_GROUP):
        chunk = ids[start : start + CUSTOMER_GROUP]
        yield Group(low=chunk[0], high=chunk[-1], size=len(chunk))


class _Run:
    """One group's statements, on the session's connection (one transaction)."""

    def __init__(self, group: Group):
        self.group = group
        self.conn: Connection = db.session.connection()
        self.sql = PortableSQL(self.conn, timezone())

    def execute(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        expanding: Iterable[str] = (),
        types: dict[str, Any] | None = None,
    ) -> Any:
        """text(sql) run with the parameters it names (the group's, the dialect's, params);
        list parameters (expanding, the group's ids) bound as lists, types as given."""
        used = set(re.findall(r"(?<![:\w]):(\w+)", sql))
        statement = text(sql)
        binds = [
            bindparam(name, expanding=True)
            for name in (set(expanding) | set(self.group.expanding)) & used
        ]
        binds += [bindparam(name, type_=type_) for name, type_ in (types or {}).items()]
        if binds:
            statement = statement.bindparams(*binds)
        merged = {**self.sql.params(), **self.group.params(), **(params or {})}
        return self.conn.execute(statement, {k: v for k, v in merged.items() if k in used})

    def within(self, column: str) -> str:
        return self.group.within(column)

    def analyze(self, table: str) -> None:
        """PostgreSQL never analyzes temporary tables by itself: without statistics it plans
        joins over them as if they held one row."""
        if self.sql.postgres:
            self.conn.execute(text(f"ANALYZE {table}"))


def _rebuild(group: Group, result: RecomputeResult) -> None:
    run = _Run(group)
    if run.sql.postgres:
        # window functions and sorts over every candidate row: in memory, please
        run.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    rules = {key: rule for key, rule in active_rules().items() if key not in CLOCK_RULES}
    run.execute(f"SELECT id FROM customers WHERE {run.within('id')} ORDER BY id" + _lock(run))
    tables = _TempTables(run)
    try:
        tables.create()
        if "pricing_viewed" in rules:
            tables.fill_version_tags()
        if "frequent_interaction" in rules:
            _pick_frequent(run, rules["frequent_interaction"])
        if "senior_title" in rules or "target_industry" in rules:
            tables.fill_profiles(rules)
        _fill_ledger(run, rules)
        _write_changes(run)
    finally:
        tables.drop()
    _refresh(run)
    result.customers += group.size
    result.events += run.execute(
        f"SELECT COUNT(*) FROM events WHERE {run.within('customer_id')}"
    ).scalar_one()
    result.entries += run.execute(
        f"SELECT COUNT(*) FROM score_entries WHERE {run.within('customer_id')}"
    ).scalar_one()


def _fill_ledger(run: _Run, rules: dict[str, RuleConfig]) -> None:
    """The group's ledger as the rules make it now, into NEW_LEDGER, with each row's place
    in the live handler's order (event id, then the rule's rank)."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    expanding: list[str] = []
    rank = 0
    for key in PROFILE_TRIGGERS:
        if key in rules:
            rank += 1
            parts.append(_capped(run, rules[key], _profile_query(run, key), rank))
    for key, build in EVENT_RULES.items():
        if key in rules:
            rank += 1
            query = build(rules[key], run.sql, run.within)
            parts.append(_capped(run, rules[key], query.sql, rank))
            params.update(query.params)
            expanding += query.expanding
    if not parts:
        return
    union = "\nUNION ALL\n".join(f"SELECT * FROM ({part}) r{i}" for i, part in enumerate(parts))
    run.execute(
        f"""
        INSERT INTO {NEW_LEDGER}
            (customer_id, rule_key, rule_version, points, scope, event_id, at, reason, rank_)
        SELECT customer_id, rule_key, rule_version, points, scope, event_id, at, reason, rank_
        FROM ({union}) rows_
        """,
        params,
        expanding,
    )
    run.analyze(NEW_LEDGER)


def _write_changes(run: _Run) -> None:
    """Make the group's ledger equal NEW_LEDGER, touching only the rows that differ: a row the
    rules would write again exactly (rule, version, points, scope, event, time, reason) stays
    as it is, with its id and recorded_at; the clock's rows are left alone. A recompute after
    a small repair writes little, and one with unchanged rules writes nothing."""
    sql = run.sql
    same = (
        "n.customer_id = s.customer_id AND n.rule_key = s.rule_key AND n.scope = s.scope "
        "AND n.rule_version = s.rule_version AND n.points = s.points "
        f"AND {sql.same('n.event_id', 's.event_id')} AND n.at = s.at "
        f"AND {sql.same_json('n.reason', 's.reason')}"
    )
    clock = ", ".join(f"'{key}'" for key in sorted(CLOCK_RULES))
    run.execute(f"""
        DELETE FROM score_entries AS s
        WHERE {run.within("s.customer_id")} AND s.rule_key NOT IN ({clock})
          AND NOT EXISTS (SELECT 1 FROM {NEW_LEDGER} n WHERE {same})
    """)
    run.execute(
        f"""
        INSERT INTO score_entries
            (customer_id, rule_key, rule_version, points, scope, event_id, at, recorded_at,
             reason)
        SELECT n.customer_id, n.rule_key, n.rule_version, n.points, n.scope, n.event_id, n.at,
               :recorded_at, n.reason
        FROM {NEW_LEDGER} n
        WHERE NOT EXISTS (
            SELECT 1 FROM score_entries s
            WHERE s.customer_id = n.customer_id AND s.rule_key = n.rule_key
              AND s.scope = n.scope)
        ORDER BY n.event_id, n.rank_
        """,
        {"recorded_at": utcnow()},
        types={"recorded_at": UTCDateTime()},
    )


def _lock(run: _Run) -> str:
    # PostgreSQL: the same lock the live handler takes (facts.load_facts), so that no event is
    # scored for these customers while their ledger is rebuilt.
    return " FOR NO KEY UPDATE" if run.sql.postgres else ""


def _capped(run: _Run, rule: RuleConfig, candidates: str, rank: int) -> str:
    """The candidate rows of one rule → the ledger rows it pays: the first event of each scope
    ("once" when the rule is not repeatable), in event order, clamped to the cap."""
    points, magnitude = int(rule.points), abs(int(rule.points))
    scope = "c.scope" if rule.repeatable else "'once'"
    if rule.cap is None:
        paid = str(points)
    else:
        room = f"({int(rule.cap)} - (n - 1) * {magnitude})"
        sign = "" if points > 0 else "-"
        paid = (
            f"CASE WHEN {room} >= {magnitude} THEN {points} "
            f"WHEN {room} > 0 THEN {sign}{room} ELSE 0 END"
        )
    capped = run.sql.json_merge("reason", run.sql.json_object(("capped_from", str(points))))
    return f"""
        SELECT customer_id, '{rule.key}' AS rule_key, {int(rule.version)} AS rule_version,
               points, scope, event_id, at,
               CASE WHEN points <> {points} THEN {capped} ELSE reason END AS reason,
               {rank} AS rank_
        FROM (
            SELECT f.*, {paid} AS points
            FROM (
                SELECT s.*, ROW_NUMBER() OVER (
                           PARTITION BY s.customer_id ORDER BY s.event_id) AS n
                FROM (
                    SELECT c.customer_id, c.event_id, c.at, c.reason, {scope} AS scope,
                           ROW_NUMBER() OVER (
                               PARTITION BY c.customer_id, {scope} ORDER BY c.event_id
                           ) AS in_scope
                    FROM ({candidates}) c
                ) s
                WHERE s.in_scope = 1
            ) f
        ) p
        WHERE points <> 0
    """


def _profile_query(run: _Run, key: str) -> str:
    """senior_title / target_industry: pay on the customer's first stored event, when the
    customer's title or industry matches (matched beforehand, per distinct value)."""
    if key == "senior_title":
        join = f"JOIN {PROFILE_TITLES} m ON m.value = c.title"
        reason = run.sql.json_object(("title", "c.title"), ("matched", "m.matched"))
    else:
        join = f"JOIN {PROFILE_INDUSTRIES} m ON m.value = c.industry"
        reason = run.sql.json_object(("industry", "m.matched"))
    return f"""
        SELECT c.id AS customer_id, f.event_id, f.at, 'once' AS scope, {reason} AS reason
        FROM {FIRST_EVENTS} f
        JOIN customers c ON c.id = f.customer_id
        {join}
    """


def _pick_frequent(run: _Run, rule: RuleConfig) -> None:
    """frequent_interaction's payments into FREQUENT_PICKS, in rounds.

    A candidate is an interaction with at least `count` interactions (itself included) of the
    customer stored before it within the `days` before it. Round k pays, for every customer at
    once, their first candidate (by id) after round k-1's that is not within `days` of any
    earlier payment — exactly the order the live handler pays in."""
    days = int(rule.params.get("days", 7))
    count = int(rule.params.get("count", 5))
    sql = run.sql
    run.execute(f"""
        INSERT INTO {FREQUENT_CANDIDATES} (customer_id, event_id, at, interactions)
        SELECT x.customer_id, x.event_id, x.at, x.interactions
        FROM (
            SELECT e.customer_id, e.id AS event_id, e.occurred_at AS at,
                   (SELECT COUNT(*) FROM events p
                    WHERE p.customer_id = e.customer_id AND p.id < e.id
                      AND p.occurred_at > {sql.shift_days("e.occurred_at", -days)}
                      AND p.occurred_at <= e.occurred_at AND {interaction("p")}) + 1
                   AS interactions
            FROM {_interactions(run, days, count)} e
        ) x
        WHERE x.interactions >= {count}
    """)
    run.analyze(FREQUENT_CANDIDATES)
    magnitude = abs(int(rule.points))
    rounds = 1 if not rule.repeatable else MAX_ROUNDS
    if rule.cap is not None and magnitude:
        rounds = min(rounds, -(-int(rule.cap) // magnitude))  # the payments the cap allows
    for _ in range(rounds):
        added = run.execute(f"""
            INSERT INTO {FREQUENT_PICKS} (customer_id, event_id, at, interactions)
            SELECT c.customer_id, c.event_id, c.at, c.interactions
            FROM {FREQUENT_CANDIDATES} c
            JOIN (
                SELECT c2.customer_id, MIN(c2.event_id) AS event_id
                FROM {FREQUENT_CANDIDATES} c2
                WHERE c2.event_id > COALESCE(
                        (SELECT MAX(p.event_id) FROM {FREQUENT_PICKS} p
                         WHERE p.customer_id = c2.customer_id), 0)
                  AND NOT EXISTS (
                        SELECT 1 FROM {FREQUENT_PICKS} p
                        WHERE p.customer_id = c2.customer_id
                          AND c2.at > {sql.shift_days("p.at", -days)}
                          AND c2.at < {sql.shift_days("p.at", days)})
                GROUP BY c2.customer_id
            ) m ON m.event_id = c.event_id
        """).rowcount
        if not added:
            break
        run.analyze(FREQUENT_PICKS)


def _interactions(run: _Run, days: int, count: int) -> str:
    """The group's interactions that may have `count` within `days` before them. PostgreSQL
    first drops, with one window over time, those that have fewer in that window whatever
    their ids (an upper bound of the count by id): most interactions of a large data set never
    need the exact, per-event count."""
    if not run.sql.postgres:
        return (
            f"(SELECT * FROM events e WHERE {interaction('e')} AND {run.within('e.customer_id')})"
        )
    return f"""(
        SELECT * FROM (
            SELECT e.*, COUNT(*) OVER (
                PARTITION BY e.customer_id ORDER BY e.occurred_at
                RANGE BETWEEN INTERVAL '{int(days)} days' PRECEDING AND CURRENT ROW
            ) AS at_most
            FROM events e
            WHERE {interaction("e")} AND {run.within("e.customer_id")}
        ) w
        WHERE w.at_most >= {int(count)}
    )"""


def _refresh(run: _Run) -> None:
    """Score = the ledger's sum, grade from it: one UPDATE that writes only the customers
    whose score or grade is not what the ledger says."""
    grade = grade_case(literal_column("t.total"))
    grade_sql = str(grade.compile(dialect=run.conn.dialect, compile_kwargs={"literal_binds": True}))
    run.execute(f"""
        UPDATE customers SET score = t.total, grade = {grade_sql}
        FROM (
            SELECT c.id, COALESCE(SUM(e.points), 0) AS total
            FROM customers c LEFT JOIN score_entries e ON e.customer_id = c.id
            WHERE {run.within("c.id")}
            GROUP BY c.id
        ) t
        WHERE customers.id = t.id AND (customers.score <> t.total OR customers.grade <> {grade_sql})
    """)
    group = run.group
    if group.ids is not None:
        refresh_crossings(group.ids)
    else:
        refresh_crossings(id_range=(group.low, group.high))
    _expire_loaded(None)


class _TempTables:
    """The group's scratch tables, created in its transaction and dropped at its end."""

    def __init__(self, run: _Run):
        self.run = run

    def create(self) -> None:
        self.drop()
        specs = {
            VERSION_TAGS: "template_id INTEGER, number INTEGER, key VARCHAR(200), tag VARCHAR(200)",
            FREQUENT_CANDIDATES: "customer_id INTEGER, event_id BIGINT, at {tz}, "
            "interactions INTEGER",
            FREQUENT_PICKS: "customer_id INTEGER, event_id BIGINT, at {tz}, interactions INTEGER",
            FIRST_EVENTS: "customer_id INTEGER, event_id BIGINT, at {tz}",
            NEW_LEDGER: "customer_id INTEGER, rule_key VARCHAR(40), rule_version INTEGER, "
            "points INTEGER, scope VARCHAR(120), event_id BIGINT, at {tz}, reason {json}, "
            "rank_ INTEGER",
            PROFILE_TITLES: "value VARCHAR(400), matched VARCHAR(400)",
            PROFILE_INDUSTRIES: "value VARCHAR(400), matched VARCHAR(400)",
        }
        # SQLite keeps timestamps as text in SQLAlchemy's format: keep them so (no affinity)
        tz = "TIMESTAMP WITH TIME ZONE" if self.run.sql.postgres else "VARCHAR(40)"
        for name, columns in specs.items():
            columns = columns.format(tz=tz, json="JSONB" if self.run.sql.postgres else "JSON")
            self.run.conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns})"))
        if self.run.sql.postgres:
            for name in (FREQUENT_CANDIDATES, FREQUENT_PICKS):
                self.run.conn.execute(text(f"CREATE INDEX ON {name} (customer_id, event_id)"))

    def drop(self) -> None:
        for name in (
            VERSION_TAGS,
            FIRST_EVENTS,
            NEW_LEDGER,
            FREQUENT_CANDIDATES,
            FREQUENT_PICKS,
            PROFILE_TITLES,
            PROFILE_INDUSTRIES,
        ):
            self.run.conn.execute(text(f"DROP TABLE IF EXISTS {name}"))

    def fill_version_tags(self) -> None:
        rows = []
        versions = db.session.execute(
            select(
                TemplateVersion.template_id, TemplateVersion.number, TemplateVersion.content_tags
            )
        )
        for template_id, number, content_tags in versions:
            for key, tags in (content_tags or {}).items():
                for tag in tags or []:
                    rows.append(
                        {"template_id": template_id, "number": number, "key": key, "tag": tag}
                    )
        if rows:
            self.run.conn.execute(
                text(
                    f"INSERT INTO {VERSION_TAGS} (template_id, number, key, tag) "
                    "VALUES (:template_id, :number, :key, :tag)"
                ),
                rows,
            )
        self.run.analyze(VERSION_TAGS)

    def fill_first_events(self) -> None:
        run = self.run
        run.execute(f"""
            INSERT INTO {FIRST_EVENTS} (customer_id, event_id, at)
            SELECT f.customer_id, e.id, e.occurred_at
            FROM (
                SELECT customer_id, MIN(id) AS first_id FROM events
                WHERE {run.within("customer_id")}
                  AND type NOT IN ({", ".join(f"'{t}'" for t in sorted(UNSCORED_TYPES))})
                GROUP BY customer_id
            ) f
            JOIN events e ON e.id = f.first_id
        """)
        run.analyze(FIRST_EVENTS)

    def fill_profiles(self, rules: dict[str, RuleConfig]) -> None:
        """Titles and industries are matched in Python once per distinct value (the rules use
        regular expressions and Unicode case folding that SQL does not share)."""
        run = self.run
        for key, table, column in (
            ("senior_title", PROFILE_TITLES, "title"),
            ("target_industry", PROFILE_INDUSTRIES, "industry"),
        ):
            if key not in rules:
                continue
            values = run.execute(
                f"SELECT DISTINCT {column} FROM customers "
                f"WHERE {run.within('id')} AND {column} IS NOT NULL"
            ).scalars()
            rows = []
            for value in values:
                matched = _profile_match(key, rules[key], value)
                if matched is not None:
                    rows.append({"value": value, "matched": matched})
            if rows:
                run.conn.execute(
                    text(f"INSERT INTO {table} (value, matched) VALUES (:value, :matched)"), rows
                )
            run.analyze(table)
        self.fill_first_events()


def _profile_match(key: str, rule: RuleConfig, value: str) -> str | None:
    """What the live trigger's reason records for this title/industry, None: no match."""
    from portal.engagement.facts import CustomerFacts

    trigger = PROFILE_TRIGGERS[key]
    customer = CustomerFacts(0, value if key == "senior_title" else "", value, "C")
    reason = trigger(rule, customer)
    if reason is None:
        return None
    return str(reason["matched"] if key == "senior_title" else reason["industry"])
