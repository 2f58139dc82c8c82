"""The package's imports form floors: no circles between modules, and nothing imports back up.

Every `import` in `hf_vqa/` is read with `ast`: module-level ones, lazy ones inside functions and
`if TYPE_CHECKING:` blocks alike, plus the `"hf_vqa.x.y:name"` strings that a registry imports later
(`publish/exports.py`) and `importlib.import_module("hf_vqa.x")` calls. Two rules hold on that graph:
- no circle between two modules (a lazy import inside a function is still a circle: it hides the
  knot instead of untying it);
- no module imports from `hf_vqa/__init__` (the public front door re-exports everything, so a module
  below that leans on it leans on the whole house), and nothing outside `hf_vqa/cli/` imports the CLI.

A failure prints the offending chain, file and line of each step. Run the file directly
(`.venv/bin/python tests/test_imports.py`) for the graph's numbers.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "hf_vqa"
ENTRY = re.compile(r"^hf_vqa(\.\w+)+:\w+$")  # "hf_vqa.publish.training:write_trl", imported on use


@dataclass(frozen=True)
class Edge:
    """`source` imports `target` at `path:line`; `lazy` when inside a function or a TYPE_CHECKING block."""

    source: str
    target: str
    path: str
    line: int
    lazy: bool

    def where(self) -> str:
        return f"{self.path}:{self.line}{' (lazy)' if self.lazy else ''}"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(name: str, known: dict[str, Path]) -> bool:
    return known[name].name == "__init__.py"


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that `name` (a dotted import path) lies in, or None outside the package."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _lazy_lines(tree: ast.Module) -> set[int]:
    """Lines of imports inside a function or an `if TYPE_CHECKING:` block."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        inside = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        if inside:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    lines.add(sub.lineno)
    return lines


def _edges_of(source: str, path: Path, known: dict[str, Path], root: Path) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lazy = _lazy_lines(tree)
    rel = path.relative_to(root).as_posix()
    here = source if _is_package(source, known) else source.rpartition(".")[0]
    found: dict[tuple[str, int], Edge] = {}

    def add(target: str | None, node: ast.AST, *, late: bool = False) -> None:
        if target is not None and target != source:
            found.setdefault(
                (target, node.lineno), Edge(source, target, rel, node.lineno, late or node.lineno in lazy)
            )

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_resolve(alias.name, known), node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from hf_vqa import generate` is the submodule, not __init__
                sub = f"{module}.{alias.name}"
                add(sub if sub in known else _resolve(module, known), node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ENTRY.match(node.value):
            add(_resolve(node.value.partition(":")[0], known), node, late=True)
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(_resolve(node.args[0].value, known), node, late=True)
    return list(found.values())


def edges(root: Path = ROOT) -> list[Edge]:
    """Every import from one package module to another (one per target and line)."""
    known = modules(root)
    return [e for source, path in known.items() for e in _edges_of(source, path, known, root)]


def circles(found: list[Edge]) -> list[list[Edge]]:
    """One chain per strongly connected group of modules (Tarjan), each a closed walk of edges."""
    graph: dict[str, list[Edge]] = {}
    for e in found:
        graph.setdefault(e.source, []).append(e)
        graph.setdefault(e.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # the graph has ~100 nodes: recursion depth is no concern
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for e in graph[v]:
            if e.target not in index:
                visit(e.target)
                low[v] = min(low[v], low[e.target])
            elif e.target in on:
                low[v] = min(low[v], index[e.target])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)

    chains: list[list[Edge]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for group in groups:  # for each member, the shortest walk back to itself inside its group (BFS)
        members = set(group)
        for start in sorted(group):
            came: dict[str, Edge] = {}
            frontier = [start]
            while frontier and start not in came:
                nxt = []
                for v in frontier:
                    for e in graph[v]:
                        if e.target in members and e.target not in came:
                            came[e.target] = e
                            nxt.append(e.target)
                frontier = nxt
            chain, v = [], start
            while True:
                chain.append(came[v])
                v = came[v].source
                if v == start:
                    break
            key = frozenset((e.source, e.target) for e in chain)
            if key not in seen:
                seen.add(key)
                chains.append(chain[::-1])
    return chains


def _in_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def upward(found: list[Edge]) -> list[Edge]:
    """Imports of `hf_vqa/__init__` from inside the package, and of the CLI from outside `cli/`."""
    bad = []
    for e in found:
        root = e.target == PACKAGE and e.source != PACKAGE
        cli = _in_cli(e.target) and not _in_cli(e.source)
        if root or cli:
            bad.append(e)
    return bad


def show_chain(chain: list[Edge]) -> str:
    steps = [chain[0].source] + [f"→ {e.target}   [{e.where()}]" for e in chain]
    return "\n    ".join(steps)


def test_the_graph_is_read():
    """The reader sees what is really there: module-level, lazy, relative-free and registry imports."""
    found = edges()
    pairs = {(e.source, e.target): e for e in found}
    assert ("hf_vqa.pipeline", "hf_vqa.generate") in pairs  # `from hf_vqa import generate`: the submodule
    assert ("hf_vqa.publish.exports", "hf_vqa.publish.training") in pairs  # the registry's entry strings
    assert pairs["hf_vqa.publish.exports", "hf_vqa.publish.training"].lazy
    assert any(e.lazy and e.source == "hf_vqa.pipeline" for e in found)  # the stream path, inside a function
    assert len(modules()) > 80 and len(found) > 150


def test_no_circles():
    found = circles(edges())
    assert not found, "import circles (each line: module → what it imports [file:line]):\n  " + "\n  ".join(
        show_chain(c) for c in found
    )


def test_no_upward_imports():
    found = upward(edges())
    assert not found, (
        "modules importing back up (hf_vqa/__init__ is the front door; cli/ is the top floor):\n  "
        + "\n  ".join(f"{e.source} → {e.target}   [{e.where()}]" for e in found)
    )


TOP_LEVEL_AT_MOST = 12  # besides __init__.py: what a reader needs first (issue #23)


def test_the_top_level_stays_small():
    """Modules at the top of hf_vqa/ are the ones a reader needs first; everything else lives in a room."""
    top = sorted(p.name for p in (ROOT / PACKAGE).glob("*.py") if p.name != "__init__.py")
    assert len(top) <= TOP_LEVEL_AT_MOST, (
        f"{len(top)} modules at the top of hf_vqa/ (at most {TOP_LEVEL_AT_MOST}): {', '.join(top)}; "
        "put the new one in the room it belongs to (engine/, quality/, parse/, runner/, publish/, ...)"
    )


def test_the_checker_finds_a_planted_circle_and_climb(tmp_path):
    """The rules catch what they claim: a lazy circle and an import of the package root, with their chain."""
    pkg = tmp_path / PACKAGE
    (pkg / "room").mkdir(parents=True)
    (pkg / "__init__.py").write_text("__version__ = '0'\n")
    (pkg / "room" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from hf_vqa.room import b\n")
    (pkg / "room" / "b.py").write_text("def f():\n    from hf_vqa.a import g\n")
    (pkg / "room" / "c.py").write_text("from hf_vqa import __version__\nfrom hf_vqa.room import b\n")
    found = edges(tmp_path)
    (chain,) = circles(found)  # one circle, found from both of its modules, shown once
    assert [e.source for e in chain] == ["hf_vqa.a", "hf_vqa.room.b"]
    assert "hf_vqa/room/b.py:2 (lazy)" in show_chain(chain)
    assert [(e.source, e.target) for e in upward(found)] == [("hf_vqa.room.c", "hf_vqa")]


if __name__ == "__main__":  # the numbers for a report
    found = edges()
    lazy = sum(e.lazy for e in found)
    print(f"{len(modules())} modules, {len(found)} imports between them ({lazy} lazy or TYPE_CHECKING)")
    print(f"circles: {len(circles(found))}")
    for c in circles(found):
        print("  " + show_chain(c))
    print(f"upward imports: {len(upward(found))}")
    for e in upward(found):
        print(f"  {e.source} → {e.target}   [{e.where()}]")
    sys.exit(1 if circles(found) or upward(found) else 0)
