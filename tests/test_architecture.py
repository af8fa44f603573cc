"""The shape of the package, read from the source with the standard library (ast): no import
cycle between modules of portal/ (imports inside functions and type-checking-only ones included:
hiding a cycle in a function only moves it to run time), and only the web layer and the app
factory import it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[1] / "portal"
APP_FACTORY = "portal"  # portal/__init__.py registers the blueprints
WEB_LAYER = "portal.routes"


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PORTAL.rglob("*.py")}


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, those only a type checker runs included: a cycle
    through a type annotation is still two modules that cannot be understood apart."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of portal/ that this module imports (`from a import b` is a.b when b is a
    module, else a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            found.add(candidate if candidate in modules else base)
    return {target for target in found if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_relative_imports_count(tmp_path):
    modules = {"portal.x": tmp_path / "x.py", "portal.y": tmp_path / "y.py", "portal": tmp_path}
    (tmp_path / "x.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import portal.nothing\n"
        "def f():\n    from . import y\n"
    )
    assert imports_of("portal.x", tmp_path / "x.py", modules) == {"portal.y"}
    (tmp_path / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from portal import y\n"
    )
    assert imports_of("portal.x", tmp_path / "x.py", modules) == {"portal.y"}


def test_no_import_cycle_between_modules_of_portal():
    graph = import_graph()
    assert len(graph) > 100  # the walk found the package
    found = cycles(graph)
    detail = [" ↔ ".join(component) for component in found]
    assert found == [], "import cycles:\n" + "\n".join(detail)


def test_only_the_web_layer_and_the_app_factory_import_portal_routes():
    offenders = {
        name: sorted(t for t in targets if t == WEB_LAYER or t.startswith(WEB_LAYER + "."))
        for name, targets in import_graph().items()
        if name != APP_FACTORY and name != WEB_LAYER and not name.startswith(WEB_LAYER + ".")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def direct_commits(path: Path) -> list[int]:
    """Lines of `db.session.commit()` (or `session.commit()`) in one module."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        named_session = (isinstance(target, ast.Attribute) and target.attr == "session") or (
            isinstance(target, ast.Name) and target.id == "session"
        )
        if node.func.attr == "commit" and named_session:
            lines.append(node.lineno)
    return lines


def test_the_commit_scan_sees_a_direct_commit(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    db.session.commit()\n    jobs.commit()\n")
    assert direct_commits(module) == [2]


def test_nothing_commits_but_jobs_commit():
    """jobs.commit() commits and then runs the jobs deferred in the transaction; a bare
    db.session.commit() would leave them behind (portal.jobs is the one place it is called)."""
    found = {
        f"{name}:{line}"
        for name, path in all_modules().items()
        if name != "portal.jobs"
        for line in direct_commits(path)
    }
    assert found == set()
