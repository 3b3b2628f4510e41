"""The package's layers: every import (module level or inside a function) goes down or sideways, never up, no cycles."""
import ast
from pathlib import Path

import probe

ROOT = Path(probe.__file__).parent
# lowest first; a module may import its own layer or any lower one (README.md, Layout)
LAYERS = [
    ("core", ("probe", "probe.core")),
    ("data", ("probe.data",)),
    ("models", ("probe.models",)),
    ("scoring", ("probe.scoring",)),
    ("stages", ("probe.train", "probe.train_number", "probe.evaluate", "probe.suite", "probe.metrics",
                "probe.jobs")),
    ("analyses", ("probe.analyses",)),
    ("report", ("probe.report",)),
    ("run", ("probe.run",)),
    ("cli", ("probe.cli", "probe.__main__")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > depth:
                best, depth = i, len(p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every probe module imported anywhere in the file: (module, line)."""
    tree = ast.parse(path.read_text())
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "probe"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "probe":
                continue
            for a in node.names:      # `from probe.models import cells` imports the module probe.models.cells
                sub = f"{mod}.{a.name}"
                found.append((sub if (ROOT.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                               or (ROOT.parent / Path(*sub.split(".")) / "__init__.py").exists() else mod, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): imports_of(p) for p in sorted(ROOT.rglob("*.py"))}


def test_imports_only_go_down_the_layers():
    upward = []
    for mod, deps in graph().items():
        for dep, line in deps:
            if layer_of(dep) > layer_of(mod):
                upward.append(f"{mod}:{line} imports {dep} ({LAYERS[layer_of(mod)][0]} -> {LAYERS[layer_of(dep)][0]})")
    assert not upward, "imports that go up the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = {m: sorted({d for d, _ in deps if d != m}) for m, deps in graph().items()}
    # a package's __init__ importing its own submodules (registration) is not a cycle of its code
    g = {m: [d for d in ds if not d.startswith(m + ".")] for m, ds in g.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in g.get(m, ()):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d in g and not state.get(d):
                visit(d)
        stack.pop()
        state[m] = 2

    for m in g:
        if not state.get(m):
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_layer_test_catches_an_upward_import(tmp_path, monkeypatch):
    """The check itself can fail: a data module importing the report layer is reported."""
    bad = tmp_path / "probe" / "data"
    bad.mkdir(parents=True)
    (tmp_path / "probe" / "__init__.py").write_text("")
    (bad / "__init__.py").write_text("")
    (bad / "oops.py").write_text("def f():\n    from probe.report.plots import make_figures\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "probe")
    deps = imports_of(bad / "oops.py")
    assert deps == [("probe.report.plots", 2)] and layer_of("probe.report.plots") > layer_of("probe.data.oops")
