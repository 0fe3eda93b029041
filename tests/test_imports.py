"""kdns is a layer cake: no module imports, at its top or inside a function, one that imports it
back (directly or through others). A package's own __init__ importing its submodules is not a
circle: `from kdns.plugins.hosts import handler` names the submodule, not the package."""

from __future__ import annotations

import ast
from pathlib import Path

KDNS = Path(__file__).resolve().parent.parent / "kdns"


def modules() -> dict[str, Path]:
    out = {}
    for path in KDNS.rglob("*.py"):
        parts = path.relative_to(KDNS.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The kdns modules that a file imports: for `from X import Y`, X.Y when that is a module,
    else X; a name that is no module of its own (kdns.x.attr) counts as its module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(node.module)
    out = set()
    for name in found:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("kdns"):
            out.add(name)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path per circle found by a depth-first walk: [a, b, ..., a]."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        for dep in sorted(graph[module]):
            if dep in path:
                found.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                walk(dep, path + [dep])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    return found


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_kdns_has_no_import_circles() -> None:
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    assert "kdns.server.app" in graph["kdns.server.process"]  # the walk sees imports in functions
    assert circles(graph) == []
