"""Jinja templates written by marketing, rendered without trusting them.

Templates run in an ImmutableSandboxedEnvironment (no underscore attributes, no mutation of
lists or dicts, no unsafe callables) with autoescaping and StrictUndefined, so a typo in a
variable name fails at upload time instead of printing nothing. On top of the sandbox, every
render has a budget: loop iterations and calls, wall-clock time, the size of any value the
template builds (string repetition, concatenation, padding filters...) and the size of the output.
Anything that goes wrong inside template code becomes a TemplateRenderError that names the
template line: never a 500, never code execution.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from portal.errors import ValidationFailed

MAX_OUTPUT_CHARS = 5_000_000  # the rendered HTML
MAX_VALUE_SIZE = 1_000_000  # characters or items of any value the template builds
MAX_WIDTH = 10_000  # padding widths and repeat counts in filters and format strings
MAX_STEPS = 1_000_000  # loop iterations plus calls
MAX_INT_BITS = 4_096
TIME_LIMIT_SECONDS = 5.0

TEMPLATE_FILENAME = "<template>"  # how Jinja names a from_string template in tracebacks
_LOOP_GUARD = "_portal_loop_guard"
_SIZE_GUARD = "_portal_size_guard"


class TemplateRenderError(ValidationFailed):
    """A template that cannot be rendered; the message is meant for the template's author."""

    code = "template_error"
    field = "file"  # what the author fixes is the uploaded template

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(f"Template line {lineno}: {message}" if lineno else message)
        self.lineno = lineno
        self.reason = message


class RenderLimitExceeded(SecurityError):
    """The template asked for more time, memory or output than a document may use."""


# --- the budget of the render in progress -------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    output: int = 0


_current_budget: ContextVar[_Budget | None] = ContextVar("portal_template_budget", default=None)


def _tick() -> None:
    budget = _current_budget.get()
    if budget is None:  # compile-time constant folding: nothing to account for
        return
    budget.steps += 1
    if budget.steps > MAX_STEPS:
        raise RenderLimitExceeded(
            f"the template does too much work (more than {MAX_STEPS:,} loop iterations and calls)"
        )
    if time.monotonic() > budget.deadline:
        raise RenderLimitExceeded(
            f"the template took longer than {TIME_LIMIT_SECONDS:g} seconds to render"
        )


def _weight(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Characters plus items in value, counting shared parts every time; stops past limit."""
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        total = len(value)
        for item in value:
            if total > limit:
                break
            total += _weight(item, limit - total)
        return total
    return 1


def _too_large(what: str) -> RenderLimitExceeded:
    return RenderLimitExceeded(f"{what} would be larger than {MAX_VALUE_SIZE:,} characters")


def _checked(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise RenderLimitExceeded(f"a number in the template is larger than {MAX_INT_BITS} bits")
    if _weight(value) > MAX_VALUE_SIZE:
        raise _too_large("a value built by the template")
    return value


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise RenderLimitExceeded(f"{what} {width:,} is too large (at most {MAX_WIDTH:,})")


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(fmt: str) -> None:
    for width, precision in _PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise RenderLimitExceeded("'*' widths in format strings are not allowed")
            if number:
                _check_width(int(number), "the format width")


def _check_format_spec(fmt: str) -> None:
    for _literal, _field, spec, _conversion in string.Formatter().parse(fmt):
        if not spec:
            continue
        if "{" in spec:
            raise RenderLimitExceeded("nested fields in format specifications are not allowed")
        for number in re.findall(r"\d+", spec):
            _check_width(int(number), "the format width")


def _check_repeat(sequence: Any, count: Any) -> None:
    if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int) and count > 0:
        size = _weight(sequence, MAX_VALUE_SIZE // count + 1)
        if size * count > MAX_VALUE_SIZE:
            raise _too_large("the repeated value")


def _check_replace(s: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = len(s) + 1 if old == "" else s.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * max(len(new) - len(old), 0) > MAX_VALUE_SIZE:
        raise _too_large("the replaced text")


def _joined_items(separator: Any, iterable: Any) -> list[Any]:
    """The items a join would take, refused as soon as the joined text would pass the limit.

    Counted while the items are drawn, not after: a lazy sequence (`range(100000)|map(...)`)
    costs a sandboxed call per item, so drawing all of them before refusing could take the
    whole time limit for a join that the first dozen items already show is too large.
    """
    separator_size = _weight(separator)
    items: list[Any] = []
    size = 0
    for item in iterable:
        # a number joins as its digits (the sandbox caps numbers at 4096 bits)
        item_size = len(str(item)) if isinstance(item, int | float) else _weight(item)
        size += (separator_size if items else 0) + item_size
        items.append(item)
        if size > MAX_VALUE_SIZE:
            raise _too_large("the joined text")
    return items


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse the operations whose result would be huge before Python builds it."""
    if operator == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS:
            raise RenderLimitExceeded(f"{left} ** {right} is too large")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)
    elif operator == "+" and _weight(left) + _weight(right) > MAX_VALUE_SIZE:
        raise _too_large("the sum")


# --- filters: every filter counts as a step, returns a checked value, and the ones that can
# --- blow up from a small input check their arguments first.


def _prepare_filter_args(name: str, arguments: dict[str, Any]) -> None:
    if name == "center":
        _check_width(arguments.get("width"), "the width")
    elif name == "indent":
        width = arguments.get("width", 4)
        prefix = len(width) if isinstance(width, str) else width
        text = arguments.get("s")
        lines = text.count("\n") + 1 if isinstance(text, str) else 1
        if isinstance(prefix, int) and prefix * lines > MAX_VALUE_SIZE:
            raise _too_large("the indented text")
    elif name in {"batch", "slice"}:
        _check_width(arguments.get("linecount", arguments.get("slices")), f"the {name} size")
    elif name == "format":
        if isinstance(arguments.get("value"), str):
            _check_printf(arguments["value"])
    elif name == "replace":
        _check_replace(
            arguments.get("s"), arguments.get("old"), arguments.get("new"), arguments.get("count")
        )
    elif name == "join" and "value" in arguments:
        arguments["value"] = _joined_items(arguments.get("d", ""), arguments["value"])


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters with sync and async variants take an extra first argument (the eval context)
    # that the signature of the wrapped sync function does not declare.
    inner = inspect.unwrap(func)
    extra = int(
        getattr(func, "jinja_pass_arg", None) is not None
        and getattr(inner, "jinja_pass_arg", None) is None
    )
    signature = inspect.signature(inner)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        try:
            bound = signature.bind(*args[extra:], **kwargs)
        except TypeError:
            return _checked(func(*args, **kwargs))  # let the filter report its own misuse
        _prepare_filter_args(name, bound.arguments)
        return _checked(func(*args[:extra], *bound.args, **bound.kwargs))

    return guarded


@pass_context
def _loop_guard(_context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


@pass_context
def _size_guard(_context: Context, value: Any) -> Any:
    return _checked(value)


class _GuardInserter(NodeTransformer):
    """Route every for-loop through the loop guard and every `~` through the size guard."""

    def _wrap(self, node: nodes.Expr, guard: str) -> nodes.Filter:
        return nodes.Filter(node, guard, [], [], None, None, lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._wrap(node.iter, _LOOP_GUARD)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._wrap(node, _SIZE_GUARD)


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        node = _GuardInserter().visit(node)
        node.set_environment(self.environment)
        super().visit_Template(node, frame)


# --- the environment ------------------------------------------------------------------------

_STR_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}


def _finalize(value: Any) -> Any:
    return "" if value is None else value


class PortalSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(autoescape=True, undefined=StrictUndefined, finalize=_finalize)
        self.globals.pop("lipsum", None)  # generates unbounded text, useless in a document
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_GUARD] = _loop_guard
        self.filters[_SIZE_GUARD] = _size_guard

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        return self.undefined(
            f"access to attribute {attribute!r} is not allowed",
            name=attribute,
            obj=obj,
            exc=SecurityError,
        )

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _check_format_spec(value.__self__)
        return wrapper

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if isinstance(obj, types.BuiltinMethodType) and isinstance(
            getattr(obj, "__self__", None), str | bytes
        ):
            args = self._check_text_method(obj.__self__, obj.__name__, args, kwargs)
        return _checked(super().call(context, obj, *args, **kwargs))

    @staticmethod
    def _check_text_method(
        text: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        first = args[0] if args else None
        if name in _STR_WIDTH_METHODS:
            _check_width(first if args else kwargs.get("width"), "the width")
        elif name == "expandtabs":
            tabsize = first if args else kwargs.get("tabsize", 8)
            if isinstance(tabsize, int) and len(text) + text.count("\t") * tabsize > (
                MAX_VALUE_SIZE
            ):
                raise _too_large("the expanded text")
        elif name == "replace" and len(args) >= 2:
            _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1)
        elif name == "join" and args:
            args = (_joined_items(text, args[0]), *args[1:])
        return args


_ENV = PortalSandbox()


# --- rendering ------------------------------------------------------------------------------


def _template_lineno(exc: BaseException) -> int | None:
    """The template line of the innermost template frame in the (Jinja-rewritten) traceback."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _describe(exc: Exception) -> str:
    if isinstance(exc, SecurityError | UndefinedError):
        return str(exc)
    if isinstance(exc, TemplateNotFound) or "no loader" in str(exc):
        return "include, import and extends are not supported in templates"
    if isinstance(exc, RecursionError):
        return "the template calls itself too deeply"
    if isinstance(exc, MemoryError):
        return "the template needs too much memory"
    return f"{type(exc).__name__}: {exc}"


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> Template:
    """The template compiled once per process: every customer's first render of a version uses
    the same source (a template that does not compile raises, and nothing is kept)."""
    return _ENV.from_string(source)


def render_html(source: str, variables: dict[str, Any]) -> str:
    """Render a marketing template with plain-dict variables (customer, rep, today...)."""
    try:
        template = _compiled(source)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(exc.message or str(exc), lineno=exc.lineno) from exc
    except Exception as exc:  # a template the compiler chokes on is still the template's fault
        raise TemplateRenderError(_describe(exc)) from exc

    budget = _Budget(deadline=time.monotonic() + TIME_LIMIT_SECONDS)
    token = _current_budget.set(budget)
    parts: list[str] = []
    try:
        for chunk in template.generate(variables):
            budget.output += len(chunk)
            if budget.output > MAX_OUTPUT_CHARS:
                raise RenderLimitExceeded(
                    f"the rendered HTML is larger than {MAX_OUTPUT_CHARS:,} characters"
                )
            parts.append(chunk)
    except Exception as exc:
        raise TemplateRenderError(_describe(exc), lineno=_template_lineno(exc)) from exc
    finally:
        _current_budget.reset(token)
    return "".join(parts)
