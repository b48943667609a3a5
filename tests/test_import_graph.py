"""The package's house holds: rooms import only rooms on lower (or their own) floors, and no modules import each
other in a loop, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "talkgen"
# Floors, ground first: a room may import its own floor's rooms' modules only where noted below, and any lower floor.
FLOORS = (
    ("errors", "fs"),
    ("media",),
    ("audio",),
    ("prompts", "models", "synth"),
    ("pipelines",),
    ("eval", "training", "serve"),
    ("app",),
    ("commands",),
    ("cli",),
    ("__main__",),
)
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("talkgen.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("talkgen") and not node.level:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = {t for t in _imports(path) if t in modules and t != name}
        graph[name] = {t for t in targets if not name.startswith(t + ".")}  # a module's own package face
    return graph


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "talkgen"


def test_no_import_runs_up_a_floor():
    upward = [
        f"{a} -> {b}"
        for a, targets in _graph().items()
        for b in targets
        if _room(a) in FLOOR and _room(b) in FLOOR and FLOOR[_room(b)] > FLOOR[_room(a)]
    ]
    assert not upward, upward


def test_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_every_room_has_a_floor():
    rooms = {_room(m) for m in _graph()} - {"talkgen"}
    assert rooms <= set(FLOOR), rooms - set(FLOOR)
