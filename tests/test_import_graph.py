"""The package's imports, read from the source: no circle, and no reach into another package's
private modules (issue 17: a package is entered through its ``__init__``).

Every import counts, those under ``if TYPE_CHECKING:`` and inside functions too: a circle that
only the type checker follows still ties two rooms together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jbtrio"

#: Reaches into another package's private module that are still to go: none left (issue 17).
KNOWN_REACHES: frozenset[tuple[str, str]] = frozenset()


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> Iterator[str]:
    """The jbtrio modules ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module).split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` needs the module; ``from pkg import name``, the package.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        yield from (name for name in names if name in MODULES)


GRAPH = {module: set(_imports(module)) - {module} for module in MODULES}


def test_no_import_circle() -> None:
    # Tarjan's strongly connected components, iteratively: a component of two or more
    # modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(GRAPH[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
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
                        circles.append(sorted(component))
    assert circles == []


def test_no_module_reaches_into_another_packages_private_module() -> None:
    reaches = set()
    for module, targets in GRAPH.items():
        for target in targets:
            package, _, name = target.rpartition(".")
            private = name.startswith("_") and MODULES[target].name != "__init__.py"
            # The top package's own modules (_errors.py, ...) are the floor every layer shares.
            if private and package not in ("jbtrio", _package_of(module)):
                reaches.add((module, target))
    assert reaches <= KNOWN_REACHES, sorted(reaches - KNOWN_REACHES)


def test_the_rooms_of_a_call_know_nothing_of_it() -> None:
    rooms = ["_call_commands", "_flow_runner", "_inbound_routing", "_tool_serving", "_flow"]
    for room in rooms:
        assert not GRAPH[f"jbtrio.{room}"] & {"jbtrio._call", "jbtrio._app"}, room
    assert "jbtrio._app" not in GRAPH["jbtrio._call"]


#: The layers of ARCHITECTURE.md, lowest first; a module may import its own layer or a lower one.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "jbtrio._errors",
        "jbtrio._wire",
        "jbtrio.verbs",
        "jbtrio.commands",
        "jbtrio._commands_ai",
        "jbtrio._commands_v10",
    ),
    ("jbtrio._core",),
    ("jbtrio._runtime", "jbtrio._cluster", "jbtrio.audio", "jbtrio.rest"),
    ("jbtrio",),  # the app API: everything of the top package not named above
    ("jbtrio.testing",),
    ("jbtrio._demo",),  # `jbtrio demo` runs the example apps against the fake jambonz
)


def _layer(module: str) -> int:
    best, best_len = 3, 0
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = level, len(prefix)
    return best


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        (module, target)
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def test_the_core_and_the_wire_model_never_import_trio() -> None:
    for module, path in MODULES.items():
        if _layer(module) <= 1:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {
                alias.name.split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {
                (node.module or "").split(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and not node.level
            }
            assert not names & {"trio", "trio_websocket", "websockets", "socket"}, module
