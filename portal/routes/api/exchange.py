"""The Excel bridge in the API: POST /imports (preview or apply) and GET /export.xlsx."""

from __future__ import annotations

from flask import Response, current_app, request

from portal.db_types import utcnow
from portal.errors import ValidationFailed
from portal.exchange.exporting import XLSX_TYPE, export_workbook
from portal.exchange.importing import check_kind, run_import
from portal.exchange.reading import SheetLimits
from portal.jobs import commit
from portal.routes.api.base import api_user, bp
from portal.routes.api.spec_parts import INT as _INT
from portal.routes.api.spec_parts import STR as _STR
from portal.routes.api.spec_parts import error as _error

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _dry_run(value: str | None) -> bool:
    text = (value or "true").strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValidationFailed(
            "dry_run must be true or false", code="not_a_boolean", field="dry_run"
        )
    return text in _TRUE


@bp.post("/imports")
def create_import():
    kind = check_kind(request.form.get("kind"))
    dry_run = _dry_run(request.form.get("dry_run"))
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(
            "file is required (multipart/form-data, an .xlsx or .csv file)",
            code="file_required",
            field="file",
        )
    report = run_import(
        api_user(),
        kind,
        upload.read(),
        apply=not dry_run,
        limits=SheetLimits.from_config(current_app.config),
    )
    if not dry_run:
        commit()
    return report.to_json()


@bp.get("/export.xlsx")
def export_xlsx():
    name = f"portal-{utcnow():%Y%m%d}.xlsx"
    return Response(
        export_workbook(api_user()),
        mimetype=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- the OpenAPI description of these routes (merged by portal.routes.api.openapi) ---------------


OPENAPI_PATHS = {
    "/imports": {
        "post": {
            "summary": "Import customers or deals from an .xlsx or .csv (preview or apply)",
            "description": "dry_run=true (the default) plans every row and writes nothing; "
            "dry_run=false writes the good rows (rows with errors are skipped and listed with "
            "their row number and column). Re-importing the same sheet creates nothing new.",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file", "kind"],
                            "properties": {
                                "file": {
                                    "type": "string",
                                    "format": "binary",
                                    "description": ".xlsx (first sheet) or .csv (UTF-8 or GBK)",
                                },
                                "kind": {"type": "string", "enum": ["customers", "deals"]},
                                "dry_run": {"type": "boolean", "default": True},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The plan (dry run) or the result",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ImportReport"}
                        }
                    },
                },
                "400": _error("Not a readable spreadsheet, a zip bomb, too many rows"),
                "401": _error("No or bad API token"),
                "403": _error("The caller keeps no customers (marketing)"),
                "413": _error("File over the size limit"),
                "415": _error("Not an .xlsx or .csv file (judged by content)"),
                "422": _error("Missing file, unknown kind, bad dry_run"),
            },
        }
    },
    "/export.xlsx": {
        "get": {
            "summary": "Customers, deals, tasks and engagement the caller may see, as .xlsx",
            "responses": {
                "200": {
                    "description": "The workbook, a sheet each",
                    "content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                },
                "401": _error("No or bad API token"),
            },
        }
    },
}

OPENAPI_SCHEMAS = {
    "ImportReport": {
        "type": "object",
        "required": ["kind", "format", "dry_run", "summary", "rows", "errors"],
        "properties": {
            "kind": {"type": "string", "enum": ["customers", "deals"]},
            "format": {"type": "string", "enum": ["xlsx", "csv"]},
            "dry_run": {"type": "boolean"},
            "summary": {
                "type": "object",
                "properties": dict.fromkeys(
                    ("rows", "create", "update", "unchanged", "error"), _INT
                ),
            },
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": _INT,
                        "action": {
                            "type": "string",
                            "enum": ["create", "update", "unchanged", "error"],
                        },
                        "label": _STR,
                        "changes": {"type": "array", "items": _STR},
                    },
                },
            },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": "integer", "description": "as Excel shows it"},
                        "column": {"type": "string", "description": "the header in the sheet"},
                        "field": {"type": ["string", "null"]},
                        "message": _STR,
                    },
                },
            },
            "ignored_columns": {"type": "array", "items": _STR},
        },
    }
}
