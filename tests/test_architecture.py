"""The architecture holds: imports run one way through the layers (build → media → harness → evaluation → report;
a benchmark recipe, which also renders generated media, sits above the media layer), no two modules import each
other (even lazily, inside a function), and plug-ins use only the public API."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "avnoisebench"
LAYERS = [
    ("errors", "hashing", "jsonl", "progress", "provenance", "processes", "files", "userdirs"),
    ("dataset",),
    ("noise",),
    ("sources",),
    ("media",),
    ("recipes",),
    ("loaders",),
    ("models",),
    ("ops",),
    ("runs",),
    ("harness",),
    ("pretrain",),
    ("plugin",),
    ("evaluation",),
    ("report",),
    ("sweep",),
    ("demo",),
    ("cli", "__main__"),
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: str = "avnoisebench") -> set[str]:
    """Every module of `package` a file imports, at any depth of its code (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in found if name == package or name.startswith(f"{package}.")}


def sources() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def existing(name: str, known: dict[str, Path]) -> str | None:
    """The module an imported name refers to (a name imported from a module counts as that module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> dict[str, set[str]]:
    known = sources()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for target in imports(path):
            module = existing(target, known)
            if module and module != name:
                edges[name].add(module)
    return edges


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return LAYER[top]


def test_every_top_level_module_has_a_layer() -> None:
    tops = {module_name(p).split(".")[1] for p in PACKAGE.rglob("*.py") if module_name(p) != "avnoisebench"}
    assert sorted(tops - set(LAYER)) == []


def test_imports_never_run_back_up_the_layers() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        if source != "avnoisebench"
        for target in targets
        if target != "avnoisebench" and layer(target) > layer(source)
    ]
    upward += [
        f"{s} imports the package facade" for s, t in graph().items() if s != "avnoisebench" and "avnoisebench" in t
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("folder", ["baselines", "method"])
def test_methods_use_only_the_public_plugin_api(folder: str) -> None:
    reached = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / folder).rglob("*.py")
        for name in imports(path)
        if not (name == "avnoisebench.plugin" or name.startswith("avnoisebench.plugin."))
    }
    assert sorted(reached) == []


@pytest.mark.parametrize(("folder", "other"), [("baselines", "method"), ("method", "baselines")])
def test_baselines_and_method_never_import_each_other(folder: str, other: str) -> None:
    reached = sorted(f"{p.relative_to(ROOT)}" for p in (ROOT / folder).rglob("*.py") if imports(p, other))
    assert reached == []
