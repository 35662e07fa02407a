"""The layout: the paper modules are platform-free, and modules and functions stay short.

The paper modules are read top to bottom next to the papers; which device runs them,
whether a faster convolution exists and how the loop is driven are decided elsewhere
(nst_jax/fast/plan.py, loop.py). These tests read the code itself (its syntax tree), so
the rule holds for code written later too."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nst_jax"
PAPER = ("image.py", "vgg.py", "losses.py", "lbfgs.py", "color.py", "normalize.py")
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
            if node.module and node.module.split(".")[0] == "fast":
                found.append(f"imports the speed machinery: {node.module}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value.strip().lower()
            if text in PLATFORM_NAMES | LOOP_KINDS or "winograd" in text:
                found.append(f"string {node.value!r}")
        for name in names:
            if name in PLATFORM_CALLS or name.lower() in PLATFORM_NAMES or "winograd" in name.lower():
                found.append(f"name {name!r} (line {getattr(node, 'lineno', '?')})")
    return found


@pytest.mark.parametrize("module", PAPER)
def test_the_paper_modules_ask_nothing_of_the_platform(module):
    assert platform_choices((PACKAGE / module).read_text()) == []


def test_the_check_finds_what_it_looks_for():
    # it flags the speed machinery, which is where these belong
    assert platform_choices((PACKAGE / "fast" / "plan.py").read_text())
    assert platform_choices((PACKAGE / "fast" / "winograd.py").read_text())
    assert platform_choices("import jax\nif jax.default_backend() == 'cpu': pass\n")
    assert platform_choices("from .fast import plan\n")
    assert platform_choices("def f(loop='host'): pass\n")
    assert not platform_choices('"""On a CPU, winograd is faster (prose)."""\nx = 1\n')


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
    tree = ast.parse((PACKAGE / "stylize.py").read_text())
    f = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "stylize")
    assert f.end_lineno - f.lineno + 1 <= 60
