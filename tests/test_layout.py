"""The layout is the pipeline: stages import only earlier stages, no cycles, no private names across modules.

Imports are read from the source (module level and inside functions alike; ``if TYPE_CHECKING:``
blocks are annotations only and do not count), so a lazy import cannot hide a cycle.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orbot"

# each stage may import the stages before it, never after; the top (cli, __init__) may import anything
STAGES = ["errors", "settings", "formulation", "compiler", "solving", "codegen", "agent", "eval", "synth", "service",
          "mcp", "cli"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> [(imported orbot module, names taken from it)]"""
    graph: dict[str, list[tuple[str, list[str]]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        edges = graph.setdefault(module, [])
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orbot") and node.level == 0:
                edges.append((node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.Import):
                edges += [(alias.name, []) for alias in node.names if alias.name.startswith("orbot")]
    return graph


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "orbot"


def _resolve(target: str, graph: dict) -> str:
    return target if target in graph else target.rsplit(".", 1)[0]


def test_every_module_belongs_to_a_stage():
    for module in _imports():
        assert _stage(module) in STAGES or module in ("orbot", "orbot.__main__"), module


def test_stages_import_only_earlier_stages():
    wrong = []
    for module, edges in _imports().items():
        stage = _stage(module)
        if stage not in STAGES or stage == "cli":
            continue
        for target, _ in edges:
            if _stage(target) in STAGES and STAGES.index(_stage(target)) > STAGES.index(stage):
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_no_import_cycles():
    graph = _imports()
    edges = {m: {_resolve(t, graph) for t, _ in targets} - {m} for m, targets in graph.items()}
    # a package's __init__ re-exports its modules; a module importing its own package's face is the same cycle
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt == "orbot":
                continue  # the public face imports everything; nothing inside imports it back (checked below)
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_nothing_inside_imports_the_public_face():
    offenders = [m for m, edges in _imports().items() if m not in ("orbot", "orbot.__main__")
                 and any(t == "orbot" for t, _ in edges)]
    assert not offenders, offenders


def test_no_private_names_across_modules():
    offenders = [f"{module}: {name} from {target}" for module, edges in _imports().items()
                 for target, names in edges for name in names
                 if name.startswith("_") and _resolve(target, _imports()) != module]
    assert not offenders, offenders


@pytest.mark.parametrize("limit", [600])
def test_no_module_is_a_room_of_its_own(limit):
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert not {name: n for name, n in sizes.items() if n > limit}, f"split modules past {limit} lines"
