"""One declaration per API body: a route names the pydantic models of its query string, its
request body and its answers with `@declare(...)`; spectree validates the request with them
before the view runs (and the answer after it) and builds the OpenAPI document from the same
declarations (portal.routes.api.openapi). Nothing else describes or checks a body's shape;
the rules about what a value may mean stay in the services.

A body that does not fit its model is refused here, in the API's error contract: 422 with the
offending member in `field` and the code a service gives the same refusal (`required`,
`not_an_integer`, `bad_id`, `number_out_of_range`, `too_long`…; `bad_<member>` for a value
not in a fixed list or form); a body that is not a JSON object at all is 400 `bad_request`,
as before."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import request
from flask_babel import force_locale
from pydantic import BaseModel, ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter

from portal import error_catalogue
from portal.db_types import MAX_ID
from portal.errors import PortalError, ValidationFailed
from portal.routes.api.schemas.common import Error

M = TypeVar("M", bound=BaseModel)

_FORMS = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _refuse(_request: Any, _response: Any, error: ValidationError | None, *_args: Any) -> None:
    """spectree's hook after it validated the request: a refusal becomes the API's own error
    (raised, so portal.routes.json_errors answers it like any service's)."""
    if error is None:
        return
    first = error.errors(include_url=False)[0]
    location = [str(part) for part in first["loc"]]
    field = location[0] if location else None
    code, message, params = _explained(".".join(location) or "body", first)
    raise ValidationFailed(message, code=code, field=field, **params)


# pydantic's error types -> (the code the services use for the same refusal, what it must be).
# The codes are those of portal.error_catalogue, so a client tells refusals apart by code
# and field whether a model or a service refused.
_MUST_BE = {
    "bool_type": ("not_a_boolean", "true or false"),
    "bool_parsing": ("not_a_boolean", "true or false"),
    "int_type": ("not_an_integer", "an integer"),
    "int_parsing": ("not_an_integer", "an integer"),
    "int_from_float": ("not_an_integer", "an integer"),
    "string_type": ("not_a_string", "a string"),
    "dict_type": ("not_an_object", "a JSON object"),
    "model_type": ("not_an_object", "a JSON object"),
    "model_attributes_type": ("not_an_object", "a JSON object"),
    "list_type": ("not_a_list", "a list"),
    "date_from_datetime_parsing": ("bad_date", "a date (YYYY-MM-DD)"),
    "date_parsing": ("bad_date", "a date (YYYY-MM-DD)"),
    "date_type": ("bad_date", "a date (YYYY-MM-DD)"),
    "datetime_parsing": ("bad_datetime", "an ISO 8601 date-time"),
    "datetime_from_date_parsing": ("bad_datetime", "an ISO 8601 date-time"),
    "datetime_type": ("bad_datetime", "an ISO 8601 date-time"),
    "timezone_aware": ("time_zone_required", "an ISO 8601 date-time with a time zone offset"),
}
_BOUNDS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_NOT_BLANK = r"\S"  # the pattern of a member that must hold more than spaces


def _explained(where: str, error: Any) -> tuple[str, str, dict[str, Any]]:
    """(code, message, the values its sentence names) of one pydantic error."""
    kind = error["type"]
    context = error.get("ctx") or {}
    name = where.replace(".", "_")
    if kind == "missing" or (error.get("input", ...) is None and kind in _MUST_BE):
        return "required", f"{where} is required", {}
    if kind == "string_pattern_mismatch" and context.get("pattern") == _NOT_BLANK:
        return "required", f"{where} is required", {}
    if kind in {"literal_error", "enum", "string_pattern_mismatch"}:
        code = f"bad_{name}"
        return code, f"{where}: {_catalogue_english(code) or error['msg']}", {}
    if kind in _MUST_BE:
        code, must_be = _MUST_BE[kind]
        return code, f"{where} must be {must_be}", {}
    if kind in {"string_too_long", "too_long"}:
        limit = context.get("max_length", 0)
        return "too_long", f"{where} is longer than {limit}", {"limit": limit}
    if kind in _BOUNDS and context.get("ge") == 1 and context.get("le") == MAX_ID:
        return "bad_id", f"{where} must be an id from 1 to {MAX_ID}", {}
    if kind in _BOUNDS:
        return "number_out_of_range", f"{where}: {error['msg']}", {}
    return "validation_failed", f"{where}: {error['msg']}", {}


def _catalogue_english(code: str) -> str | None:
    """The catalogue's sentence for code in English (the API's messages are English; clients
    tell refusals apart by code), rather than the validation library's wording of a pattern."""
    with force_locale("en"):
        return error_catalogue.sentence(code)


class _Adapter(PydanticModelAdapter):
    """spectree turns a refusal into JSON before our hook sees it: without the input values,
    which may be an uploaded file (not JSON)."""

    def validation_errors(self, err: ValidationError) -> Any:
        return err.errors(include_context=False, include_input=False, include_url=False)


class _SchemasWhenAsked(SpecTree):
    """spectree makes a model's JSON schema when a route declaring it is decorated: for the
    API's ~170 models, a third of a second of CPU at every process start (every gunicorn and
    RQ worker, every `flask` command), used only by the OpenAPI document. Here a declared model
    is noted, and its schema made (by spectree, unchanged) the first time the document's
    schemas are read. Validation uses the models themselves, never these schemas."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._noted: list[tuple[Any, str]] = []
        # Two first requests for the document at once: the second waits for the schemas,
        # instead of reading (and spectree caching) a document with some of them missing.
        self._making = threading.Lock()
        self._maker: int | None = None  # the thread making them (spectree stores through us)
        super().__init__(*args, **kwargs)

    def _add_model(self, model: Any, mode: Any = "validation") -> str:
        self._noted.append((model, mode))
        return self.naming_strategy(model)

    @property
    def models(self) -> dict[str, Any]:
        if self._maker == threading.get_ident():
            return self._schemas
        with self._making:
            if self._noted:
                self._maker = threading.get_ident()
                try:
                    for model, mode in self._noted:
                        super()._add_model(model=model, mode=mode)  # into self._schemas
                    self._noted = []
                finally:
                    self._maker = None
            return self._schemas

    @models.setter
    def models(self, value: dict[str, Any]) -> None:
        self._schemas = value


spec = _SchemasWhenAsked(
    "flask",
    # Only routes declared with @declare are described (strict), by their plain model names.
    mode="strict",
    model_adapter=_Adapter(),
    annotations=False,
    title="Portal API",
    version="1",
    description="Tracked document delivery for B2B sales teams.",
    openapi_version="3.1.0",
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    validation_error_model=Error,
    before=_refuse,
    security_schemes=[
        SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer"))
    ],
    security={"bearer": []},
)


def declare(
    *,
    answers: dict[int, type[BaseModel] | tuple[type[BaseModel] | None, str] | None],
    query: type[BaseModel] | None = None,
    json: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    optional_body: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The route's query string, its JSON or multipart body and its answers by status: a
    model, (model, description), or None for an answer without a JSON body (a file, 204)."""
    codes = {f"HTTP_{status}": answer for status, answer in answers.items()}
    validate = spec.validate(query=query, json=json, form=form, resp=Response(**codes))

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        validated = validate(view)
        if json is None and form is None:
            return validated

        @wraps(validated)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if json is not None and not (optional_body and not request.content_length):
                _require_json_object()
            if form is not None and request.mimetype not in _FORMS:
                raise ValidationFailed(
                    "the body must be multipart/form-data", code="not_multipart", field="file"
                )
            return validated(*args, **kwargs)

        return checked

    return decorate


def _require_json_object() -> None:
    if not isinstance(request.get_json(silent=True), dict):
        raise PortalError("the body must be a JSON object (Content-Type: application/json)")


def body(model: type[M]) -> M:
    """The request body @declare validated (an empty optional body: the model's defaults)."""
    value = getattr(request.context, "json", None)
    if value is None:
        return model()
    return _checked(value, model)


def form(model: type[M]) -> M:
    return _checked(request.context.form, model)


def query(model: type[M]) -> M:
    return _checked(request.context.query, model)


def _checked(value: Any, model: type[M]) -> M:
    # The view asks for the model it declared: anything else is a bug in the route.
    if not isinstance(value, model):
        raise TypeError(f"the route declared {type(value).__name__}, not {model.__name__}")
    return value
