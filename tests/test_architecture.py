"""Architecture rules of issue #12, checked on the source with :mod:`ast` (no bbgen import, fast).

(a) no import cycles among bbgen modules; (b) no import of another module's private names;
(c) no module over 400 lines; (d) every public function/class has a numpydoc ``Parameters`` section;
(e) ``typing.Any`` in public signatures at most 10 times; (f) no ``sys.path`` edits in tests or notebooks
(analysis scripts are run as subprocesses, their library code lives in :mod:`bbgen`).
See docs/architecture.md.
"""
from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "bbgen"
MAX_LINES = 400
MAX_ANY = 10

NOT_YET_NUMPYDOC: dict[str, str] = {}  # modules exempt from rule (d): none
ANY_NOT_YET_COUNTED: dict[str, str] = {}  # modules exempt from rule (e): none
SYS_PATH_ALLOWED: dict[str, str] = {}  # files exempt from rule (f): none


# ----------------------------------------------------------------------------------------------- the source
@lru_cache(maxsize=None)
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


@lru_cache(maxsize=None)
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def _type_checking_blocks(mod: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports for annotations only, never executed)."""
    skip = set()
    for node in ast.walk(mod):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def resolve(name: str, node: ast.ImportFrom) -> str:
    """Absolute module of ``from <node.module> import ...`` written in module ``name``."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package(name) else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str) -> list[tuple[str, str | None, ast.stmt]]:
    """``(module, imported name or None, node)`` for every executed import statement of ``name``.

    Function-level (lazy) imports count: they run on first call and a cycle through them is still a
    cycle of responsibilities, only hidden until run time.
    """
    mod = tree(name)
    skip = _type_checking_blocks(mod)
    out = []
    for node in ast.walk(mod):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, node)
            out += [(target, alias.name, node) for alias in node.names]
    return out


def edges(name: str) -> set[str]:
    """bbgen modules imported by ``name``: ``from pkg import sub`` points at the submodule itself."""
    known = modules()
    out = set()
    for target, imported, _ in imports(name):
        sub = f"{target}.{imported}" if imported else None
        if sub in known:
            out.add(sub)
        elif target in known:
            out.add(target)
    out.discard(name)
    return out


# ----------------------------------------------------------------------------------------------- (a) cycles
def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0 and (found := visit(node)):
            return found
    return None


def test_find_cycle_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve_to_submodules():
    node = ast.parse("from . import _validate").body[0]
    assert resolve("bbgen.generator.reference", node) == "bbgen.generator"
    assert resolve("bbgen.generator", ast.parse("from .batched import x").body[0]) == "bbgen.generator.batched"
    assert resolve("bbgen.anchors.atss", ast.parse("from .. import boxes").body[0]) == "bbgen"
    assert "bbgen.boxes" in edges("bbgen.generator.feasible")


def test_no_import_cycles():
    graph = {name: edges(name) for name in modules()}
    assert sum(map(len, graph.values())) > 50  # the walk sees the graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# ----------------------------------------------------------------------------------------------- (b) private names
def test_no_private_names_of_other_modules():
    known = modules()
    bad = []
    for name in known:
        aliases = {}  # local name -> bbgen module, to catch `module._private` too
        for target, imported, node in imports(name):
            if target.split(".")[0] != "bbgen":
                continue
            if imported is None:
                continue
            if f"{target}.{imported}" in known:
                aliases[imported] = f"{target}.{imported}"
            elif imported.startswith("_") and not imported.startswith("__"):
                bad.append(f"{name}:{node.lineno} imports {imported} from {target}")
        for node in ast.walk(tree(name)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------------------------------------- (c) size
def test_no_module_over_400_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


# ----------------------------------------------------------------------------------------------- (d), (e) API
def exported(name: str) -> list[str]:
    for node in tree(name).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:  # computed (lazy packages): their names are checked where defined
                return []
    return []


def defined(name: str) -> dict[str, ast.AST]:
    return {node.name: node for node in tree(name).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
    return [n for n in names if n not in ("self", "cls")]


def _takes_parameters(node: ast.AST) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return bool(_parameters(node))
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None:
        return bool(_parameters(init))
    fields = [n for n in node.body if isinstance(n, ast.AnnAssign) and "ClassVar" not in ast.unparse(n.annotation)]
    return bool(fields) or bool(node.bases and not all(ast.unparse(b) in ("object",) for b in node.bases))


def has_section(doc: str | None, *titles: str) -> bool:
    lines = [line.strip() for line in (doc or "").splitlines()]
    return any(lines[i] in titles and set(lines[i + 1]) == {"-"} for i in range(len(lines) - 1))


def public_modules() -> list[str]:
    return [name for name in modules() if is_public(name)]


def test_public_modules_declare_all():
    missing = [name for name in public_modules() if not is_package(name) and not exported(name)]
    assert not missing, missing


def test_public_api_has_numpydoc_parameters():
    bad = []
    for name in public_modules():
        if name in NOT_YET_NUMPYDOC:
            continue
        defs = defined(name)
        for obj in exported(name):
            node = defs.get(obj)
            if node is None or not _takes_parameters(node):
                continue  # re-exported (checked where defined), a constant, or nothing to document
            titles = ("Parameters", "Attributes") if isinstance(node, ast.ClassDef) else ("Parameters",)
            if not has_section(ast.get_docstring(node), *titles):
                bad.append(f"{name}.{obj}")
    assert not bad, "no numpydoc Parameters section: " + ", ".join(bad)


def test_has_section_reads_numpydoc():
    assert has_section("Do.\n\n    Parameters\n    ----------\n    x : int\n", "Parameters")
    assert not has_section("Do.\n\n    Args:\n        x: an int\n", "Parameters")


def _annotations(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    a = fn.args
    args = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x is not None]
    return [x.annotation for x in args if x.annotation is not None] + ([fn.returns] if fn.returns else [])


def any_in_public_signatures() -> dict[str, int]:
    """``Any`` per public function or method (names without a leading underscore) of public modules."""
    counts = {}
    for name in public_modules():
        if name in ANY_NOT_YET_COUNTED:
            continue

        def visit(body, prefix):
            for node in body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                    visit(node.body, f"{prefix}{node.name}.")
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        not node.name.startswith("_") or node.name == "__init__"):
                    n = sum(isinstance(x, ast.Name) and x.id == "Any" or isinstance(x, ast.Attribute) and x.attr == "Any"
                            for ann in _annotations(node) for x in ast.walk(ann))
                    n += sum(ann.value.count("Any") for ann in _annotations(node) if isinstance(ann, ast.Constant)
                             and isinstance(ann.value, str))
                    if n:
                        counts[f"{name}.{prefix}{node.name}"] = n

        visit(tree(name).body, "")
    return counts


def test_any_in_public_signatures_at_most_10():
    counts = any_in_public_signatures()
    assert sum(counts.values()) <= MAX_ANY, counts


# ----------------------------------------------------------------------------------------------- (f) sys.path
def _sources_of_tests_and_notebooks():
    for path in sorted((ROOT / "tests").glob("*.py")):
        yield path, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_no_sys_path_edits_in_tests_and_notebooks():
    # Scripts of analysis/ are run as subprocesses (which put analysis/ on their own path); anything a test or
    # notebook needs from them in-process belongs in bbgen/.
    needle = "sys.path." + "insert"  # spelled apart so that this file does not match itself
    bad = [str(path.relative_to(ROOT)) for path, text in _sources_of_tests_and_notebooks()
           if (needle in text or "sys.path." + "append" in text)
           and str(path.relative_to(ROOT)) not in SYS_PATH_ALLOWED]
    assert not bad, bad


def test_progress_bars_come_from_bbgen_progress():
    """tqdm only through bbgen.progress: the widget bar in Jupyter when ipywidgets is there, never a TqdmWarning."""
    offenders = []
    for name, path in modules().items():
        if name == "bbgen.progress":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tqdm":
                offenders.append(f"{name}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tqdm" for a in node.names):
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, offenders
