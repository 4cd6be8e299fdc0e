"""The house: imports run only down a floor, no file-level import cycle, no import of another package's
private module. A small AST walk over the source tree (imports inside functions included).

Run as a script for the counts: ``python tests/test_architecture.py [ROOT]``.
"""
from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Floor of each top-level package (longest dotted prefix wins). A package may import its own floor's
# package only where ALLOWED_SIDEWAYS says so, and any package on a lower floor.
FLOORS: dict[str, int] = {
    "ground": 1,
    "converter": 2, "transforms": 2, "emulator": 2, "data_loading": 2,
    "parity": 3, "federated": 3,
    "coreml_updatable": 4,
}
ALLOWED_SIDEWAYS: set[tuple[str, str]] = {("converter", "transforms")}


@dataclass(frozen=True)
class Import:
    importer: str   # dotted module name of the importing file
    target: str     # dotted module name imported (a module, or the package for `from pkg import name`)
    names: tuple[str, ...]
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            files[module_name(path, root)] = path
    return files


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> list[Import]:
    """Every import in the file, at any depth (functions, methods, try blocks)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, alias.name, (), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(a.name for a in node.names)
            submodules = [n for n in names if f"{target}.{n}" in modules]
            for n in submodules:
                found.append(Import(name, f"{target}.{n}", (), node.lineno))
            rest = tuple(n for n in names if n not in submodules)
            if rest or not submodules:
                found.append(Import(name, target, rest, node.lineno))
    return found


def floor_of(module: str, floors: Mapping[str, int]) -> tuple[str, int] | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in floors:
            return prefix, floors[prefix]
    return None


def upward_imports(imports: Iterable[Import], floors: Mapping[str, int],
                   sideways: set[tuple[str, str]]) -> list[str]:
    bad = []
    for imp in imports:
        src, dst = floor_of(imp.importer, floors), floor_of(imp.target, floors)
        if src is None or dst is None or src[0] == dst[0] or src[1] == dst[1] == 1:
            continue  # within a package, or within the ground floor
        if dst[1] > src[1] or (dst[1] == src[1] and (src[0], dst[0]) not in sideways):
            way = "up" if dst[1] > src[1] else "sideways"
            bad.append(f"{imp.importer}:{imp.line} imports {imp.target} ({way}: floor {src[1]} -> {dst[1]})")
    return bad


def private_imports(imports: Iterable[Import], floors: Mapping[str, int]) -> list[str]:
    """Imports of another top-level package's `_module` or `_name`."""
    bad = []
    for imp in imports:
        src, dst = imp.importer.split(".")[0], imp.target.split(".")[0]
        if src == dst or dst not in {k.split(".")[0] for k in floors}:
            continue
        private = [p for p in imp.target.split(".") if p.startswith("_") and not p.startswith("__")]
        private += [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if private:
            bad.append(f"{imp.importer}:{imp.line} imports {imp.target} {list(imp.names) or ''} (private: {private})")
    return bad


def cycles(imports: Iterable[Import], modules: Mapping[str, Path]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return sorted(found)


def package_cycles(imports: Iterable[Import], floors: Mapping[str, int]) -> list[list[str]]:
    """Cycles between top-level packages."""
    tops = {k.split(".")[0] for k in floors}
    edges = [Import(i.importer.split(".")[0], i.target.split(".")[0], (), 0) for i in imports
             if i.target.split(".")[0] in tops and i.importer.split(".")[0] != i.target.split(".")[0]]
    return cycles(edges, {t: Path(t) for t in tops})


def survey(root: Path = ROOT, floors: Mapping[str, int] = FLOORS,
           sideways: set[tuple[str, str]] = ALLOWED_SIDEWAYS) -> dict[str, list]:
    packages = sorted({k.split(".")[0] for k in floors if (root / k.split(".")[0]).is_dir()})
    modules = source_files(root, packages)
    imports = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    return {
        "upward": upward_imports(imports, floors, sideways),
        "private": private_imports(imports, floors),
        "cycles": cycles(imports, modules),
        "package_cycles": package_cycles(imports, floors),
    }


@functools.cache
def _house() -> dict[str, list]:
    return survey()


def test_imports_run_only_down_a_floor():
    bad = _house()["upward"]
    assert not bad, "imports that run up or sideways:\n" + "\n".join(bad)


def test_no_import_cycle_between_files():
    found = _house()["cycles"]
    assert not found, "file-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_import_cycle_between_packages():
    assert not _house()["package_cycles"]


def test_no_import_of_another_packages_private_module():
    bad = _house()["private"]
    assert not bad, "imports of another package's private module or name:\n" + "\n".join(bad)


def test_every_source_package_has_a_floor():
    """A new top-level package must be given its floor here (and in pyproject's package list)."""
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    assert packages <= set(FLOORS), f"packages without a floor: {sorted(packages - set(FLOORS))}"


def test_the_walk_sees_an_upward_import_and_a_cycle(tmp_path):
    """The walk itself: a planted upward import, a cycle through a function-level import, a private one."""
    (tmp_path / "ground").mkdir()
    (tmp_path / "ground" / "__init__.py").write_text("")
    (tmp_path / "ground" / "a.py").write_text("def f():\n    from emulator import b\n")
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "__init__.py").write_text("")
    (tmp_path / "emulator" / "b.py").write_text("from ground import a\nfrom ground._x import y\n"
                                                   "import transforms.c\n")
    found = survey(tmp_path, {"ground": 1, "emulator": 2, "transforms": 2}, set())
    assert found["upward"] == ["emulator.b:3 imports transforms.c (sideways: floor 2 -> 2)",
                               "ground.a:2 imports emulator.b (up: floor 1 -> 2)"]
    assert found["cycles"] == [["emulator.b", "ground.a"]]
    assert found["private"] == ["emulator.b:2 imports ground._x ['y'] (private: ['_x'])"]


# The old layout (c90d5a9), each module on the floor the target layout gives it: for the before counts.
OLD_FLOORS: dict[str, int] = {
    "coreml_updatable.errors": 1, "coreml_updatable.weight_params": 1, "coreml_updatable._coremltools": 1,
    "coreml_updatable._quiet": 1, "converter.layout": 1, "emulator.spec_io": 1,
    "transforms._rules_update": 1, "transforms._rules_graph": 1,
    "converter": 2, "transforms": 2, "emulator": 2, "coreml_updatable.data": 2,
    "parity": 3, "coreml_updatable": 4,
}

if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    old = not (root / "ground").is_dir()
    floors = OLD_FLOORS if old else FLOORS
    packages = sorted({k.split(".")[0] for k in floors})
    modules = source_files(root, packages)
    imports = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    up = upward_imports(imports, floors, ALLOWED_SIDEWAYS)
    priv = private_imports(imports, floors)
    cyc = cycles(imports, modules)
    pcyc = package_cycles(imports, {k.split(".")[0]: v for k, v in floors.items() if "." not in k})
    print("\n".join(up))
    print("\n".join(priv))
    for c in cyc:
        print("cycle:", " <-> ".join(c))
    print("package cycles:", pcyc)
    by_package = {k: v for k, v in FLOORS.items()}
    top = upward_imports(imports, by_package, ALLOWED_SIDEWAYS)
    print(f"by top-level package alone (coreml_updatable on floor 4): upward/sideways={len(top)}")
    print(f"layout={'old (c90d5a9 map)' if old else 'ground'} files={len(modules)} imports={len(imports)} "
          f"upward/sideways={len(up)} private={len(priv)} file_cycles={len(cyc)} "
          f"files_in_cycles={sum(map(len, cyc))} package_cycles={len(pcyc)}")
