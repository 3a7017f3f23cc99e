"""Dependencies point one way: what a Dataflow worker runs never imports training or synthesis code; the
core (records, geometry, rows) and the commands that need no pipeline never import Beam; and no Beam
stage imports another.

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

# transforms/ in three kinds. Stages: one Beam stage each, composed in pipeline/graph.py; a stage
# imports no other stage. The core: records, geometry, the models' pure pre- and post-processing,
# rows, commit log; no Beam at all. Stage helpers: Beam code that several stages compose.
STAGES = ("read", "decode", "detect", "crops", "classify", "segment", "summarize", "write", "write_bigquery",
          "crops_output", "incremental", "progress")
STAGE_HELPERS = ("failures",)  # InferOrFail: RunInference whose failed batches become Failures
# Files on gs:// go through Beam's FileSystems: only this module imports it, and only inside its functions,
# so importing it (or anything of the core) never loads Beam.
BEAM_FILES = "transforms.beam_files"
# Commands and libraries that need no pipeline: training, synthesis, evaluation.
BEAM_FREE_PACKAGES = ("models.train_classifier", "models.synth", "models.build", "models.evaluation")
BEAM_FREE_MODULES = ("pipeline.evaluate",)


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


def _package_modules(package: str) -> list[str]:
    folder = REPO.joinpath(*package.split("."))
    return [package, *sorted(f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__")]


def _transforms() -> set[str]:
    return {p.stem for p in (REPO / "transforms").glob("*.py") if p.stem != "__init__"}


def _core() -> list[str]:
    return sorted(f"transforms.{m}" for m in _transforms() - set(STAGES) - set(STAGE_HELPERS))


def _beam_imports(name: str) -> list[tuple[int, bool]]:
    """(line, inside a function) of each import of apache_beam in `name`'s source."""
    tree = ast.parse(_module_file(name).read_text())
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n == "apache_beam" or n.startswith("apache_beam.") for n in names):
            found.append((node.lineno, id(node) in lazy))
    return found


def _beam_free_roots() -> list[str]:
    return [m for p in BEAM_FREE_PACKAGES for m in _package_modules(p)] + [*BEAM_FREE_MODULES, *_core()]


def test_every_transforms_module_has_a_kind():
    assert set(STAGES) | set(STAGE_HELPERS) <= _transforms(), "a stage listed here is gone: update the lists"
    assert BEAM_FILES in _core()


@pytest.mark.parametrize("root", _beam_free_roots())
def test_core_and_offline_commands_never_import_beam(root):
    reached = _closure([root])
    bad = {m: by for m, by in reached.items() if m != BEAM_FILES and _beam_imports(m)}
    assert not bad, f"{root} reaches Beam: " + ", ".join(f"{m} (from {by})" for m, by in bad.items())


def test_only_functions_of_beam_files_import_beam():
    found = _beam_imports(BEAM_FILES)
    assert found and all(lazy for _, lazy in found), found


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_another(stage):
    siblings = {f"transforms.{s}" for s in STAGES} - {f"transforms.{stage}"}
    assert not (_imports(f"transforms.{stage}") & siblings), f"transforms.{stage} imports another stage"


def test_the_core_imports_no_stage():
    stages = {f"transforms.{s}" for s in (*STAGES, *STAGE_HELPERS)}
    for core in _core():
        assert not (_imports(core) & stages), core


def test_the_top_of_models_is_the_slot_contract_alone():
    top = sorted(p.stem for p in (REPO / "models").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 8, f"models/ holds {top}: give a purpose of its own a subpackage"
