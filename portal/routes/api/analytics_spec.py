"""The analytics routes' part of the OpenAPI document (merged by openapi.build_spec)."""

from __future__ import annotations

from typing import Any

from portal.db_types import MAX_ID
from portal.routes.api.spec_parts import INT as _INT
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json
from portal.routes.api.spec_parts import query as _query

_SHARE = {"type": ["number", "null"], "description": "0..1; null when there is nothing to divide"}
_SECONDS = {"type": ["number", "null"]}
_PERIOD = {"type": "string", "description": "YYYY-MM-DD (the portal's time zone) or ISO date-time"}
FILTERS = [
    _query("since", "sends at or after (a date: from its start)", _PERIOD),
    _query("until", "sends before (a date: up to its end, included)", _PERIOD),
    _query("industry", "the customer's industry"),
    _query("region", "the customer's region"),
    _query("team", "the sender's team"),
]

PATHS: dict[str, Any] = {
    "/templates/{template_id}/analytics": {
        "get": {
            "summary": "How a template (or one version) does: sends, confirmed opens, read "
            "time, completion, readers and median seconds per page, previews, internal views, "
            "recipients who became grade A within 7 days and deals won after a send. Marketing "
            "and admins: every send; supervisors: their team's customers; reps: their own sends. "
            "Previews and internal views are never opens.",
            "parameters": [
                {
                    "name": "template_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                },
                _query("version", "a version number (default: every version)", _INT),
                *FILTERS,
            ],
            "responses": {
                "200": _json("TemplateAnalytics"),
                "400": _error("Malformed request: text with NUL characters"),
                "401": _error("No or bad API token"),
                "403": _error("The caller's role has no content analytics"),
                "404": _error("Not found, or outside the caller's library scope"),
                "422": _error("Bad date or version (`bad_date`, `bad_version`)"),
            },
        }
    },
}

PATHS["/analytics/funnel"] = {
    "get": {
        "summary": "The team funnel (sent → opened → read ≥ 2 min → grade A → deal → won) per "
        "rep, team, region or month, with conversions and median days between steps, and the "
        "headline figures: conversion cycle (first send → won, days) and A-grade close rate. "
        "Supervisors (their team) and admins.",
        "parameters": [
            _query(
                "group",
                "rep, team, region or month (default month)",
                {"type": "string", "enum": ["rep", "team", "region", "month"]},
            ),
            *FILTERS[:2],
        ],
        "responses": {
            "200": _json("FunnelList"),
            "400": _error("Malformed request: text with NUL characters"),
            "401": _error("No or bad API token"),
            "403": _error("Not a supervisor or admin"),
            "422": _error("Bad group or date (`bad_group`, `bad_date`)"),
        },
    }
}

_VISIT_FILTERS = [
    _query("template", "a template id (visits of its sends only)", _INT),
    _query("version", "a version number of that template (needs template)", _INT),
    *FILTERS,
]
_VISIT_FILE = {"type": "string", "format": "binary"}


def _visits(media_type: str, what: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"One row per visit (view session) as {what}: delivery, customer, account, "
            "visitor, device, started, seconds, pages, kind. The sends are filtered as on the "
            "analytics pages; reps get their customers, supervisors their team's, admins all. "
            "Kind: customer open, forwarded reader, or preview/scan (never confirmed); staff "
            "views are not visits. Text starting with = + - @ is written with a leading '.",
            "parameters": _VISIT_FILTERS,
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {media_type: {"schema": _VISIT_FILE}},
                },
                "400": _error("Malformed request: text with NUL characters"),
                "401": _error("No or bad API token"),
                "403": _error("Not a rep, supervisor or admin (`no_visits`)"),
                "404": _error("The template is outside the caller's library scope"),
                "422": _error(
                    "Bad filter (`bad_date`, `bad_version`, `bad_template`, "
                    "`version_needs_template`)"
                ),
            },
        }
    }


PATHS["/analytics/visits.xlsx"] = _visits(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"
)
PATHS["/analytics/visits.csv"] = _visits("text/csv", "CSV (UTF-8 with a BOM)")

_BY_STEP = {"type": "object", "additionalProperties": {"type": ["number", "null"]}}

SCHEMAS: dict[str, Any] = {
    "FunnelList": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "label": {"type": "string"},
                        "steps": {
                            "type": "object",
                            "description": "customers at sent, opened, read_2min, grade_a, "
                            "deal, won",
                            "additionalProperties": _INT,
                        },
                        "conversion": _BY_STEP,
                        "median_days": _BY_STEP,
                        "conversion_cycle_days": {
                            "type": "object",
                            "properties": {"median": _SECONDS, "mean": _SECONDS},
                        },
                        "a_grade_close_rate": _SHARE,
                        "a_grade_reached": _INT,
                        "a_grade_won": _INT,
                    },
                },
            }
        },
    },
    "TemplateAnalytics": {
        "type": "object",
        "properties": {
            "template_id": _INT,
            "version": {"type": ["integer", "null"]},
            "sends": _INT,
            "opens": {**_INT, "description": "sends a customer opened (confirmed in a browser)"},
            "open_rate": _SHARE,
            "median_read_seconds": _SECONDS,
            "p75_read_seconds": _SECONDS,
            "completion_rate": {**_SHARE, "description": "opened sends whose last page was read"},
            "previews": {
                **_INT,
                "description": "fetches never confirmed (link previews, scanners)",
            },
            "internal_views": {**_INT, "description": "staff or API tokens viewing the link"},
            "forwards": {
                "type": "integer",
                "description": "forwarded readers: other devices on the recipients' links",
            },
            "pages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"page": _INT, "readers": _INT, "median_seconds": _SECONDS},
                },
            },
            "recipients": _INT,
            "grade_a_customers": _INT,
            "grade_a_within_7d": _SHARE,
            "deals_won": _INT,
        },
    },
}
