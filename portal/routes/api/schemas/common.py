"""Types every API model uses: ids, strict scalars, times, the error answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from portal.db_types import MAX_ID


def _whole(value: Any) -> Any:
    # JSON has one kind of number: 5.0 is the integer 5 (as JSON Schema counts it), 5.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict: a JSON body's "5" is not the integer 5, nor true the integer 1.
# (The bounds before the conversion: so pydantic writes them in the schema as minimum/maximum.)
Int = Annotated[StrictInt, BeforeValidator(_whole)]
RowId = Annotated[StrictInt, Field(ge=1, le=MAX_ID), BeforeValidator(_whole)]
Text = StrictStr
Flag = StrictBool
# Answers carry times as ISO 8601 text, null when not set.
Time = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
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
