"""Dependencies point one way: what a Dataflow worker runs never imports training or synthesis code.

Read from the source (every import statement, also those inside functions), followed transitively
through our own packages, so a lazy import deep in a runtime function is caught as well.
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("models", "pipeline", "transforms")
RUNTIME_ROOTS = ("models.slots", "models.handler", "models.export", "pipeline.run", "pipeline.scan")
NOT_AT_RUNTIME = ("models.backbone", "models.build", "models.synth", "models.train_classifier")


def _module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imports(name: str) -> set[str]:
    """Modules of ours that `name` imports anywhere in its source."""
    tree = ast.parse(_module_file(name).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from models import slots` imports the module models.slots
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if _module_file(f"{node.module}.{alias.name}"))
    return {m for m in found if m.split(".")[0] in OURS and _module_file(m)}


def _closure(roots) -> dict[str, str]:
    """Every module of ours reachable from roots -> the module that first imported it."""
    seen, todo = {r: "(root)" for r in roots}, list(roots)
    while todo:
        current = todo.pop()
        for dep in _imports(current):
            if dep not in seen:
                seen[dep] = current
                todo.append(dep)
    return seen


def _runtime_roots() -> list[str]:
    transforms = sorted(f"transforms.{p.stem}" for p in (REPO / "transforms").glob("*.py") if p.stem != "__init__")
    return [*RUNTIME_ROOTS, *transforms]


def test_the_walk_sees_lazy_imports():
    # models.build.bundle imports the scene generator inside a function: the walk must see it.
    assert "models.synth.generator" in _closure(["models.build.bundle"])


@pytest.mark.parametrize("root", _runtime_roots())
def test_runtime_imports_no_training_or_synthesis(root):
    reached = _closure([root])
    bad = {m: by for m, by in reached.items() if m.startswith(NOT_AT_RUNTIME)}
    assert not bad, f"{root} reaches training/synthesis code: " + ", ".join(f"{m} (from {by})" for m, by in bad.items())


def test_transforms_import_nothing_from_models():
    for root in _runtime_roots():
        if root.startswith("transforms."):
            assert not [m for m in _imports(root) if m.startswith("models")], root
