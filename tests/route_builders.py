"""Werkzeug's URL builders remembered across the apps of one test process.

Every test makes its own app (tests/conftest.py: app), and registering its ~165 routes makes
werkzeug generate and compile a Python function per route and direction (`Rule._compile_builder`:
an AST built, walked and compiled): about 50 ms of the ~60 ms create_app takes, some 100 s of
CPU over the two passes. The function is a pure product of the rule's parsed parts and its
defaults (it reaches the rule's converters through its `self` argument when called), so the
same rule in the next app gets the function generated for the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.routing.rules import Rule


def _key(rule: Rule, append_unknown: bool) -> tuple:
    defaults = sorted((str(name), repr(value)) for name, value in (rule.defaults or {}).items())
    return (rule.rule, append_unknown, tuple(rule._trace), tuple(defaults))


@contextmanager
def remembered_builders() -> Iterator[dict[tuple, Callable[..., Any]]]:
    generate = Rule._compile_builder
    builders: dict[tuple, Callable[..., Any]] = {}

    def compile_builder(rule: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = _key(rule, append_unknown)
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = generate(rule, append_unknown)
        return builder

    compile_builder.__wrapped__ = generate
    Rule._compile_builder = compile_builder
    try:
        yield builders
    finally:
        Rule._compile_builder = generate
