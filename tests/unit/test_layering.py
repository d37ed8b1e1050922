"""The program stands on its own: nothing it runs imports the command line package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the Pulumi program (and the dynamic-provider host) imports; `automation` drives it from outside.
PROGRAM_SOURCES = ("__main__.py", "components", "bootstrap")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def program_files() -> list[Path]:
    files: list[Path] = []
    for entry in PROGRAM_SOURCES:
        path = REPO / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_the_program_files_are_found() -> None:
    names = {path.relative_to(REPO).as_posix() for path in program_files()}
    assert {"__main__.py", "components/settings.py", "components/feature.py", "components/octopus/inputs.py"} <= names


@pytest.mark.parametrize("path", program_files(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_no_program_module_imports_the_command_line(path: Path) -> None:
    offending = sorted(
        module for module in imported_modules(path) if module == "automation" or module.startswith("automation.")
    )
    assert offending == [], f"{path.relative_to(REPO)} imports {offending}; move the shared rule into components/"
