"""requirements.txt alone installs every third-party module the package imports (training included)."""
from __future__ import annotations

import ast
import importlib.metadata as md
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
OURS = {"models", "pipeline", "transforms", "deploy", "tests"}


def imported_modules() -> dict[str, str]:
    """Dotted module imported (anywhere, lazily too) by models/, pipeline/, transforms/ -> a file doing it."""
    found = {}
    for package in ("models", "pipeline", "transforms"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OURS:
                        found.setdefault(name, str(path.relative_to(REPO)))
    return found


def pinned() -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def install_closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution pip installs for these requirements (from the installed metadata)."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in md.requires(req.name) or []:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in (*extras, "")):
                todo.append((dep, frozenset(dep.extras)))
    return {key.split("[")[0] for key in seen}


def providers(module: str, by_top: dict[str, list[str]]) -> set[str]:
    """Distributions that ship `module`: by its top-level name, or for a namespace package shared by
    several (google.*), the ones with files at the longest dotted prefix of it."""
    candidates = {canonicalize_name(d) for d in by_top.get(module.split(".")[0], [])}
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        folder = "/".join(parts[:depth])
        here = {name for name in candidates
                if any(str(f).startswith((folder + "/", folder + ".")) for f in md.distribution(name).files or ())}
        if here:
            return here
    return candidates


def test_requirements_install_every_imported_module():
    installed = install_closure(pinned())
    by_top = md.packages_distributions()
    missing = {}
    for module, where in imported_modules().items():
        dists = providers(module, by_top)
        assert dists, f"{module} (imported by {where}) is not installed at all"
        if not dists & installed:
            missing[module] = (where, sorted(dists))
    assert not missing, f"imported but not installed by requirements.txt alone: {missing}"
