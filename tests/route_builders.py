"""Werkzeug's parsed rules and URL builders remembered across the apps of one test process.

Every test makes its own app (tests/conftest.py: app), and registering its ~165 routes makes
werkzeug parse each rule (a regex walk, a converter per variable, the parts the matcher is built
from) and generate and compile a Python function per route and direction (`Rule._compile_builder`:
an AST built, walked and compiled). That was nearly all of the ~60 ms create_app took, on ~2,800
test runs per CI run. Both are pure products of the rule's text, its defaults and the map's
converter classes and settings, so the same rule in the next app gets what the first one made:

- the builder function (it reaches the rule's converters through its `self` argument when
  called);
- the parsed parts, the trace and the converters. The converter objects are shared by the
  rules of every app: werkzeug's and Portal's converters keep the map they were made for but
  never read it (to_python, to_url and regex only use their own arguments).

tests/test_route_builders.py checks that every route builds and matches as werkzeug's own do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.routing.rules import Rule


def _key(rule: Rule, append_unknown: bool) -> tuple:
    defaults = sorted((str(name), repr(value)) for name, value in (rule.defaults or {}).items())
    return (rule.rule, append_unknown, tuple(rule._trace), tuple(defaults))


def _parse_key(rule: Rule) -> tuple:
    routing = rule.map
    assert routing is not None
    defaults = sorted((str(name), repr(value)) for name, value in (rule.defaults or {}).items())
    converters = sorted((name, id(kind)) for name, kind in routing.converters.items())
    return (
        rule.rule,
        rule.host if routing.host_matching else rule.subdomain,
        routing.host_matching,
        rule.merge_slashes,
        tuple(defaults),
        tuple(converters),
    )


@contextmanager
def remembered_builders() -> Iterator[dict[tuple, Callable[..., Any]]]:
    generate = Rule._compile_builder
    compile_rule = Rule.compile
    builders: dict[tuple, Callable[..., Any]] = {}
    parsed: dict[tuple, tuple] = {}

    def compile_builder(rule: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = _key(rule, append_unknown)
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = generate(rule, append_unknown)
        return builder

    def compile(rule: Rule) -> None:
        key = _parse_key(rule)
        known = parsed.get(key)
        if known is None:
            before = set(rule.arguments)
            compile_rule(rule)
            parsed[key] = (
                tuple(rule._parts),
                tuple(rule._trace),
                dict(rule._converters),
                frozenset(rule.arguments - before),
            )
            return
        parts, trace, converters, arguments = known
        rule._parts = list(parts)
        rule._trace = list(trace)
        rule._converters = dict(converters)
        rule.arguments.update(arguments)
        # as Rule.compile does: through whatever _compile_builder is installed (a memo inside
        # this one, as tests/test_route_builders.py makes, sees every rule)
        rule._build = rule._compile_builder(False).__get__(rule, None)
        rule._build_unknown = rule._compile_builder(True).__get__(rule, None)

    compile_builder.__wrapped__ = generate
    compile.__wrapped__ = compile_rule
    Rule._compile_builder = compile_builder
    Rule.compile = compile
    try:
        yield builders
    finally:
        Rule._compile_builder = generate
        Rule.compile = compile_rule
