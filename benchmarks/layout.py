"""The package's layout in figures: files per folder, largest modules, import circles and
imports that run from a lower layer up to a higher one.

Usage::

    python benchmarks/layout.py [--root geosoil] [--json out.json]

Imports are read with :mod:`ast`, nothing is imported. A circle is a strongly connected
group of modules in the graph of module-level imports (imports under ``TYPE_CHECKING`` and
inside functions are left out: they run late and cannot deadlock an import); the figure
with every import, the late ones and those named in strings for ``importlib`` (module
``__getattr__`` shims) included, is printed beside it. The package root's lazy table of the
public API is a facade, not an import of the layers: it is left out. Layers run from the
ground floor (value objects and errors) up to the CLI, in the order of :data:`LAYERS`; an
import from a module to one of a higher layer is an upward import.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

# Lowest first. A top-level module or package of geosoil that is not named sits with the
# package root (``geosoil/__init__.py``) at the bottom.
LAYERS = [
    ["errors", "geo", "specs", "data"],
    ["spectra", "process"],
    ["io"],
    ["artifacts"],
    # folds, metrics and the CV loop: models choose settings on inner folds with them
    ["evaluate"],
    ["models", "baselines"],
    ["explain", "synthetic"],
    ["mapping"],
    ["products"],
    ["config"],
    ["workflows"],
    ["cli"],
]
LARGE_LINES = 600


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, name: str, is_package: bool) -> tuple[set[str], set[str]]:
    """Modules imported at module level, and those imported anywhere (both absolute)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top: set[str] = set()
    every: set[str] = set()
    base = name if is_package else name.rpartition(".")[0]

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                module = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                module = node.module or ""
            # ``from pkg import sub`` names a submodule where one exists (resolved later):
            # ``module|alias`` pairs.
            return [f"{module}|{alias.name}" for alias in node.names]
        return []

    def walk(nodes: list[ast.stmt], module_level: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            found = targets(node)
            every.update(found)
            if module_level:
                top.update(found)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    inner = module_level and not isinstance(
                        node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                    )
                    walk([child], inner)

    walk(tree.body, True)
    # Lazy imports through importlib name their module in a string (``_LAZY`` tables behind a
    # module ``__getattr__``): count them with the late imports, or a shim hides a circle.
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and text.startswith("geosoil.") and " " not in text:
            every.add(text)
    return top, every


def graph(root: Path) -> tuple[dict[str, Path], dict[str, set[str]], dict[str, set[str]]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    top_edges: dict[str, set[str]] = defaultdict(set)
    all_edges: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        top, every = imports(path, name, path.name == "__init__.py")
        if name == root.name:
            every = set(top)  # the root's lazy public API (see the module docstring)
        for edges, found in ((top_edges, top), (all_edges, every)):
            for target in found:
                module, _, alias = target.partition("|")
                if alias and f"{module}.{alias}" in files:
                    module = f"{module}.{alias}"
                if module in files and module != name:
                    edges[name].add(module)
    return files, top_edges, all_edges


def circles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return sorted(groups, key=len, reverse=True)


def layer_of(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    return 0


def _is_package_init(module: str, files: dict[str, Path]) -> bool:
    return files[module].name == "__init__.py"


def upward(files: dict[str, Path], edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    found = []
    for source, targets in edges.items():
        for target in targets:
            # A package's __init__ re-exporting its own modules is not an upward import.
            if _is_package_init(source, files) and target.startswith(source + "."):
                continue
            if layer_of(target) > layer_of(source):
                found.append((source, target))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).parents[1] / "geosoil")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    root = args.root.resolve()
    files, top_edges, all_edges = graph(root)
    lines = {name: len(path.read_text().splitlines()) for name, path in files.items()}
    per_folder = Counter(str(path.parent.relative_to(root.parent)) for path in files.values())
    largest = sorted(lines.items(), key=lambda item: -item[1])[:15]
    top_circles = circles(sorted(files), top_edges)
    all_circles = circles(sorted(files), all_edges)
    up = upward(files, top_edges)
    up_all = upward(files, all_edges)
    print(f"{len(files)} modules, {sum(lines.values())} lines")
    print("\nfiles per folder:")
    for folder, count in sorted(per_folder.items()):
        print(f"  {count:4d}  {folder}")
    print(f"\nlargest modules ({sum(n > LARGE_LINES for n in lines.values())} over {LARGE_LINES}):")
    for name, count in largest:
        print(f"  {count:5d}  {name}")
    print(f"\nimport circles (module-level imports): {len(top_circles)}")
    for group in top_circles:
        print(f"  {len(group)} modules: {', '.join(group)}")
    print(f"import circles counting imports inside functions too: {len(all_circles)}")
    for group in all_circles:
        print(f"  {len(group)} modules: {', '.join(group[:6])}{' ...' if len(group) > 6 else ''}")
    print(f"\nupward imports (module level): {len(up)}")
    for source, target in up:
        print(f"  {source} -> {target}")
    print(f"upward imports counting imports inside functions too: {len(up_all)}")
    for source, target in up_all:
        if (source, target) not in up:
            print(f"  {source} -> {target} (inside a function)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "modules": len(files),
                    "lines": sum(lines.values()),
                    "files_per_folder": dict(sorted(per_folder.items())),
                    "largest": largest,
                    "over_600_lines": sorted(n for n, c in lines.items() if c > LARGE_LINES),
                    "circles": top_circles,
                    "circles_with_function_imports": all_circles,
                    "upward": up,
                    "upward_with_function_imports": up_all,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
