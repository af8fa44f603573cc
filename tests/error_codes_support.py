"""The errors portal/ raises, read from the source with the standard library (ast): which classes
are PortalErrors, which calls make one, and the code each call gives it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[1] / "portal"


@dataclass(frozen=True)
class ErrorClass:
    name: str
    bases: tuple[str, ...]
    code: str | None  # a class-level `code = "..."`
    positional_code: int | None  # the index of `code` among __init__'s positional arguments


@dataclass(frozen=True)
class Raise:
    where: str  # path:line
    cls: str
    code: str | None  # the literal code, if the call gives one (keyword, class or argument)
    has_code: bool  # the call (or its class) gives a code, literal or not
    keywords: frozenset[str]  # the keyword arguments of the call (the error's params among them)


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PORTAL.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _class_of(node: ast.ClassDef) -> ErrorClass:
    code = None
    positional = None
    for item in node.body:
        if (
            isinstance(item, ast.Assign)
            and isinstance(item.value, ast.Constant)
            and any(isinstance(t, ast.Name) and t.id == "code" for t in item.targets)
        ):
            code = item.value.value
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            names = [a.arg for a in item.args.args[1:]]
            positional = names.index("code") if "code" in names else None
    bases = tuple(n for n in (_name(b) for b in node.bases) if n)
    return ErrorClass(node.name, bases, code, positional)


def error_classes() -> dict[str, ErrorClass]:
    """Every PortalError subclass defined in portal/, by name (names are unique in the tree)."""
    defined = {
        node.name: _class_of(node)
        for _, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    family = {"PortalError"}
    grew = True
    while grew:
        grew = False
        for cls in defined.values():
            if cls.name not in family and set(cls.bases) & family:
                family.add(cls.name)
                grew = True
    return {name: defined[name] for name in family if name in defined}


def is_validation(name: str, classes: dict[str, ErrorClass]) -> bool:
    while name in classes:
        if name == "ValidationFailed":
            return True
        name = next((b for b in classes[name].bases if b in classes), "")
    return False


def _inherited_code(name: str, classes: dict[str, ErrorClass]) -> str | None:
    while name in classes:
        if classes[name].code:
            return classes[name].code
        name = next((b for b in classes[name].bases if b in classes), "")
    return None


def raises() -> list[Raise]:
    """Every call in portal/ that makes a PortalError (raised or returned), with its code."""
    classes = error_classes()
    generic = {"bad_request", "validation_failed"}
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            cls = _name(node.func)
            if cls not in classes:
                continue
            where = f"{path.relative_to(PORTAL.parent)}:{node.lineno}"
            keywords = frozenset(k.arg for k in node.keywords if k.arg)
            keyword = next((k.value for k in node.keywords if k.arg == "code"), None)
            index = classes[cls].positional_code
            if keyword is None and index is not None and len(node.args) > index:
                keyword = node.args[index]
            if keyword is not None:
                literal = keyword.value if isinstance(keyword, ast.Constant) else None
                found.append(Raise(where, cls, literal, True, keywords))
                continue
            inherited = _inherited_code(cls, classes)
            own = inherited if inherited not in generic else None
            found.append(Raise(where, cls, own, own is not None, keywords))
    return sorted(found, key=lambda r: (r.where.split(":")[0], int(r.where.split(":")[1])))


def class_codes() -> set[str]:
    """The codes PortalError subclasses declare (`code = "..."`)."""
    return {c.code for c in error_classes().values() if c.code}
