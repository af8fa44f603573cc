"""The Excel bridge in the API: POST /imports (preview or apply) and GET /export.xlsx."""

from __future__ import annotations

from flask import Response, current_app

from portal.db_types import utcnow
from portal.exchange.exporting import XLSX_TYPE, export_workbook
from portal.exchange.importing import check_kind, run_import
from portal.exchange.reading import SheetLimits
from portal.jobs import commit
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, form
from portal.routes.api.schemas.common import Error
from portal.routes.api.schemas.exchange import ImportReport, ImportUpload


@bp.post("/imports")
@declare(
    form=ImportUpload,
    answers={
        200: (ImportReport, "The plan (dry run) or the result"),
        403: (Error, "The caller keeps no customers (marketing)"),
        413: (Error, "File over the size limit"),
        415: (Error, "Not an .xlsx or .csv file (judged by content)"),
    },
)
def create_import():
    """Import customers or deals from an .xlsx or .csv (preview or apply)

    dry_run=true (the default) plans every row and writes nothing; dry_run=false writes the
    good rows (rows with errors are skipped and listed with their row number and column).
    Re-importing the same sheet creates nothing new."""
    given = form(ImportUpload)
    kind = check_kind(given.kind)
    report = run_import(
        api_user(),
        kind,
        given.file.read(),
        apply=not given.dry_run,
        limits=SheetLimits.from_config(current_app.config),
    )
    if not given.dry_run:
        commit()
    return report.to_json()


@bp.get("/export.xlsx")
@declare(answers={200: (None, "The workbook, a sheet each")})
def export_xlsx():
    """Customers, deals, tasks and engagement the caller may see, as .xlsx"""
    name = f"portal-{utcnow():%Y%m%d}.xlsx"
    return Response(
        export_workbook(api_user()),
        mimetype=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
