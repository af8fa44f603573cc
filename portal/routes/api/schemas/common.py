"""Types every API model uses: ids, strict scalars, times, the error answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, WithJsonSchema

from portal.db_types import MAX_ID

# Strict: a JSON body's "5" is not the integer 5, nor true the integer 1.
RowId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Text = StrictStr
Flag = StrictBool
Int = StrictInt
# Answers carry times as ISO 8601 text, null when not set.
Time = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
TextOrNull = StrictStr | None
JsonObject = dict[str, Any]


class Body(BaseModel):
    """A request body: members it does not name are ignored, as before."""

    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    """An answer's shape; what the serializer adds beyond it passes through unchecked."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(default=None, description="the member the error concerns, if one")


class Error(BaseModel):
    """Every refusal: a 4xx or 503 with a stable code."""

    error: ErrorDetail


class IdOnly(Answer):
    id: int


class Items(Answer):
    items: list[JsonObject]
