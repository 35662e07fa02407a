"""The layout: folders import only downward, the paper is platform-free, modules stay short.

nst_jax/__init__.py lists the folders (and top-level modules) lowest first; each one's
docstring says what it may import (`May import: ...`). The paper and the optimisers are
read top to bottom next to the papers; which device runs them, whether a faster
convolution exists and how the loop is driven are decided elsewhere (fast/plan.py,
run/loop.py). These tests read the code itself (its syntax tree), so the rules hold for
code written later too."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nst_jax"
PAPER = sorted(p for folder in ("paper", "optimizers") for p in (PACKAGE / folder).glob("*.py"))
PLATFORM_CALLS = {
    "default_backend",
    "devices",
    "local_devices",
    "device_count",
    "local_device_count",
    "platform",
    "backend",
    "get_backend",
}
PLATFORM_NAMES = {"cpu", "gpu", "tpu", "cuda", "rocm", "metal"}
LOOP_KINDS = {"host", "device"}
MODULE_LINES, FUNCTION_LINES = 300, 60


def _docstrings(tree):
    """The ids of every docstring node: prose about the code is not the code."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def platform_choices(source: str):
    """What in this code asks for the platform, or knows of Winograd or loop kinds."""
    tree, found = ast.parse(source), []
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.alias):
            names.append(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
            if node.module and "fast" in node.module.split("."):
                found.append(f"imports the speed machinery: {node.module}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value.strip().lower()
            if text in PLATFORM_NAMES | LOOP_KINDS or "winograd" in text:
                found.append(f"string {node.value!r}")
        for name in names:
            if name in PLATFORM_CALLS or name.lower() in PLATFORM_NAMES or "winograd" in name.lower():
                found.append(f"name {name!r} (line {getattr(node, 'lineno', '?')})")
    return found


@pytest.mark.parametrize("module", PAPER, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_paper_modules_ask_nothing_of_the_platform(module):
    assert platform_choices(module.read_text()) == []


def test_the_check_finds_what_it_looks_for():
    # it flags the speed machinery, which is where these belong
    assert platform_choices((PACKAGE / "fast" / "plan.py").read_text())
    assert platform_choices((PACKAGE / "fast" / "winograd.py").read_text())
    assert platform_choices("import jax\nif jax.default_backend() == 'cpu': pass\n")
    assert platform_choices("from .fast import plan\n")
    assert platform_choices("def f(loop='host'): pass\n")
    assert not platform_choices('"""On a CPU, winograd is faster (prose)."""\nx = 1\n')


def units():
    """The folders and top-level modules, lowest first, as nst_jax/__init__.py lists them."""
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    return re.findall(r"^    (\w+)(?:/|\.py)\s", doc, flags=re.M)


def may_import(unit: str):
    """What `unit`'s docstring (its folder's __init__.py, or the module) says it may import."""
    path = PACKAGE / unit / "__init__.py" if (PACKAGE / unit).is_dir() else PACKAGE / f"{unit}.py"
    line = re.search(
        r"May import: ([^.]*)\.", " ".join((ast.get_docstring(ast.parse(path.read_text())) or "").split())
    )
    assert line, f"{path.relative_to(PACKAGE)}: its docstring says nothing of what it may import"
    said, order = line.group(1), units()
    if said == "nothing":
        return set()
    if said.startswith("everything"):
        return set(order[: order.index(unit)]) - {u.strip() for u in said.split("but")[1:]}
    return {u.strip() for u in said.split(",")}


def imported_units(source: str, module: str):
    """{(unit imported, line)} of the nst_jax code in `source`, the module `module`
    ("nst_jax.run.loop"): relative and absolute imports, anywhere in the file."""
    package, found = module.split(".")[:-1], set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            targets = [base] if node.module else [base + [a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nst_jax":
            targets = [node.module.split(".")]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names if a.name.split(".")[0] == "nst_jax"]
        else:
            continue
        found |= {(t[1], node.lineno) for t in targets if len(t) > 1 and t[1] != "__version__"}
    return found


def wrong_imports(path: Path):
    """The imports of the module at `path` that its unit may not make."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    unit = parts[0]
    if unit in ("__init__", "__main__"):
        return []  # the package's front door imports what it offers
    allowed = may_import(unit) | {unit}
    module = ".".join(("nst_jax",) + parts)
    return [f"line {n}: {t}" for t, n in sorted(imported_units(path.read_text(), module)) if t not in allowed]


def test_each_unit_lists_only_units_below_it():
    order = units()
    assert order[0] == "errors" and order[-1] == "cli" and len(order) == len(set(order))
    on_disk = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert on_disk - {"__init__", "__main__"} == set(order), "nst_jax/__init__.py's list is not the tree"
    for unit in order:
        assert may_import(unit) <= set(order[: order.index(unit)]), unit


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_goes_down(path):
    assert wrong_imports(path) == []


def test_the_import_check_finds_what_it_looks_for():
    assert imported_units("from ..run import loop\nfrom . import lbfgs\n", "nst_jax.paper.vgg") == {
        ("run", 1),
        ("paper", 2),
    }
    assert imported_units("import nst_jax.cli.app\nfrom nst_jax.io import files\n", "nst_jax.paper.vgg") == {
        ("cli", 1),
        ("io", 2),
    }
    assert imported_units("def f():\n    from ...batches import batch\n", "nst_jax.run.x.y") == {
        ("batches", 2)
    }
    assert "run" not in may_import("paper") and "cli" not in may_import("bench")
    assert may_import("errors") == set() and "paper" in may_import("cli")


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _over(path: Path):
    """(lines of the module if over MODULE_LINES without a reason, [long functions])."""
    source = path.read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree) or ""
    lines = len(source.splitlines())
    module = lines if lines > MODULE_LINES and "Over 300 lines:" not in doc else None
    functions = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LINES and "Over 60 lines:" not in (ast.get_docstring(node) or ""):
                functions.append(f"{node.name} ({length} lines)")
    return module, functions


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_are_short_or_say_why(path):
    module, functions = _over(path)
    assert module is None, f"{path.name}: {module} lines and no 'Over 300 lines:' reason"
    assert functions == [], f"{path.name}: {functions} without an 'Over 60 lines:' reason"


def test_stylize_reads_in_one_screen():
    tree = ast.parse((PACKAGE / "run" / "stylize.py").read_text())
    f = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "stylize")
    assert f.end_lineno - f.lineno + 1 <= 60


def test_the_readme_table_and_the_tests_follow_the_tree():
    """The module table (docs/guide/modules.md) names every module, folder by folder in the
    layers' order; tests/ has a folder per package folder it tests and no other."""
    table = (PACKAGE.parent / "docs" / "guide" / "modules.md").read_text()
    order = units()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name not in ("__init__.py", "__main__.py"):
            assert f"`nst_jax/{rel}`" in table or f"`{rel.name}`" in table, (
                f"docs/guide/modules.md's table lacks {rel}"
            )
    seen = [u for u in re.findall(r"^\| (?:\*\*[^*]+\*\* )?\[?`nst_jax/(\w+)", table, flags=re.M)]
    firsts = list(dict.fromkeys(seen))
    assert firsts == order, "docs/guide/modules.md's table is not in nst_jax/__init__.py's order"
    tests = PACKAGE.parent / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    assert folders <= set(order), folders - set(order)
