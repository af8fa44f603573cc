"""The Excel bridge: an import's upload and its report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from spectree.model_adapter.pydantic_adapter import BaseFile

from portal.routes.api.schemas.common import Answer


class ImportUpload(BaseModel):
    """multipart/form-data"""

    file: BaseFile = Field(description=".xlsx (first sheet) or .csv (UTF-8 or GBK)")
    kind: str = Field(description="customers or deals")
    dry_run: bool = Field(default=True, description="true: plan every row and write nothing")


class ImportSummary(Answer):
    rows: int | None = None
    create: int | None = None
    update: int | None = None
    unchanged: int | None = None
    error: int | None = None


class ImportRow(Answer):
    row: int | None = None
    action: Literal["create", "update", "unchanged", "error"] | None = None
    label: str | None = None
    changes: list[str] = Field(default_factory=list)


class ImportError(Answer):
    row: int | None = Field(default=None, description="as Excel shows it")
    column: str | None = Field(default=None, description="the header in the sheet")
    field: str | None = None
    message: str | None = None


class ImportReport(Answer):
    kind: Literal["customers", "deals"]
    format: Literal["xlsx", "csv"]
    dry_run: bool
    summary: ImportSummary
    rows: list[ImportRow]
    errors: list[ImportError]
    ignored_columns: list[str] = Field(default_factory=list)
