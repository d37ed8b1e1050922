"""Which provider plugins a Pulumi program needs, and whether the engine has them.

The engine runs with plugin downloads off (see `automation.pulumi_cli.engine_env`),
so a provider plugin the program needs but nobody installed fails the first
`up`, after the stack was already touched. The need is found without running
the program: its imports are followed from the entry point through the
project's own modules (the entry's folder, the work dir and this repository:
what `engine_env` puts first on PYTHONPATH) to the installed packages they reach; a
Pulumi provider SDK carries `pulumi-plugin.json` (plugin name and version) in
its package folder. What is installed is what `pulumi plugin ls --json` says.

How the engine picks a plugin (Pulumi 3.260, `workspace.GetPluginPath`): an
executable `pulumi-resource-<name>` on PATH wins unless
PULUMI_IGNORE_AMBIENT_PLUGINS is set; otherwise the installed plugin's version
must equal the requested one (or be at least it, with
PULUMI_ENABLE_LEGACY_PLUGIN_SEARCH).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

#: The file a Pulumi provider SDK package carries: {"resource": true, "name": "aws", "version": "7.51.1"}.
PLUGIN_FILE = "pulumi-plugin.json"

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


class ProgramUnreadable(Exception):
    """The work dir holds no Python program doctor can follow (no Pulumi.yaml, no entry point)."""


class PluginListFailed(Exception):
    """`pulumi plugin ls` did not answer with its JSON list."""


@dataclass(frozen=True)
class PluginNeed:
    """A plugin the program needs, and why: the SDK package and the file that imports it."""

    name: str
    version: Optional[str]
    package: str
    imported_by: str
    kind: str = "resource"
    server: Optional[str] = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    def install_command(self, home: Path) -> str:
        server = f" --server {self.server}" if self.server else ""
        version = f" {self.version}" if self.version else ""
        return f"PULUMI_HOME={home} pulumi plugin install {self.kind} {self.name}{version}{server}"

    def folder(self) -> str:
        """The folder `pulumi plugin install` makes under $PULUMI_HOME/plugins."""
        version = f"-v{self.version.lstrip('v')}" if self.version else ""
        return f"{self.kind}-{self.name}{version}"


@dataclass(frozen=True)
class InstalledPlugin:
    """One entry of `pulumi plugin ls --json`."""

    name: str
    kind: str
    version: Optional[str]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


@dataclass(frozen=True)
class ProgramPlugins:
    """What following the program's imports found."""

    needs: tuple[PluginNeed, ...]
    unread: tuple[str, ...] = ()
    """Project files that could not be parsed (their imports were not followed), with why."""


# --- the program's needs ------------------------------------------------------------------------


def program_entry(work_dir: Path) -> Path:
    """The file Pulumi runs: `main` of Pulumi.yaml (a folder's `__main__.py`, or a .py file)."""
    import yaml

    work_dir = Path(work_dir)
    project_file = next(
        (work_dir / name for name in ("Pulumi.yaml", "Pulumi.yml") if (work_dir / name).is_file()), None
    )
    if project_file is None:
        raise ProgramUnreadable(f"no Pulumi.yaml in {work_dir}")
    try:
        project = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ProgramUnreadable(f"{project_file} cannot be read: {error}") from None
    if not isinstance(project, dict):
        raise ProgramUnreadable(f"{project_file} is not a Pulumi project (a mapping)")
    runtime = project.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ProgramUnreadable(f"{project_file}: runtime {runtime_name!r} is not python")
    main = project.get("main")
    target = work_dir / main if isinstance(main, str) and main.strip() else work_dir
    entry = target if target.suffix == ".py" else target / "__main__.py"
    if not entry.is_file():
        raise ProgramUnreadable(f"the program's entry point {entry} does not exist")
    return entry


def program_roots(work_dir: Path, entry: Path) -> tuple[Path, ...]:
    """Where the program's own modules live: its entry's folder, the work dir, this repository."""
    from automation.pulumi_cli import PROJECT_ROOT

    roots: list[Path] = []
    for root in (entry.parent.resolve(), Path(work_dir).resolve(), PROJECT_ROOT.resolve()):
        if root not in roots:
            roots.append(root)
    return tuple(roots)


def imported_names(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Absolute names of the modules a file imports (and of `from` targets that may be modules).

    Imports inside functions count (a program may import a component late);
    those under `if TYPE_CHECKING:` do not, since they never run.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base is None:
                continue
            if base:
                names.append(base)
            names.extend(f"{base}.{alias.name}" if base else alias.name
                         for alias in node.names if alias.name != "*")
    return names


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: Optional[str], level: int, package: str) -> Optional[str]:
    if level == 0:
        return module or None
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None  # a relative import above the top: Python refuses it too
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base)


def _local_file(name: str, roots: Sequence[Path]) -> Optional[tuple[Path, bool]]:
    """The project file of a module name (and whether it is a package), if it is the project's."""
    relative = Path(*name.split("."))
    for root in roots:
        package = root / relative / "__init__.py"
        if package.is_file():
            return package, True
        module = root / relative.with_suffix(".py")
        if module.is_file():
            return module, False
    return None


def _plugin_of(top: str) -> Optional[dict]:
    """The parsed pulumi-plugin.json of an installed top-level package, if it carries one."""
    if top in sys.stdlib_module_names:
        return None
    try:
        spec = importlib.util.find_spec(top)  # a top-level look-up runs no package code
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        marker = Path(location) / PLUGIN_FILE
        if marker.is_file():
            try:
                document = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return document if isinstance(document, dict) else None
    return None


def program_plugins(work_dir: Path) -> ProgramPlugins:
    """Every provider plugin the program in `work_dir` imports a provider SDK for."""
    entry = program_entry(work_dir)
    roots = program_roots(work_dir, entry)
    shown_root = Path(work_dir).resolve()
    queue: deque[tuple[Path, str, bool]] = deque([(entry, "__main__", False)])
    seen_files: set[Path] = set()
    seen_names: set[str] = set()
    needs: dict[tuple[str, str], PluginNeed] = {}
    unread: list[str] = []
    while queue:
        path, module, is_package = queue.popleft()
        if path in seen_files:
            continue
        seen_files.add(path)
        shown = _shown(path, shown_root, roots)
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as error:
            unread.append(f"{shown} line {error.lineno}: {error.msg}")
            continue
        except (OSError, ValueError) as error:
            unread.append(f"{shown}: {error}")
            continue
        for name in imported_names(tree, module, is_package):
            if name in seen_names:
                continue
            seen_names.add(name)
            parts = name.split(".")
            prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
            local = [(prefix, _local_file(prefix, roots)) for prefix in prefixes]
            if any(found for _, found in local):
                # The project's own module: follow its imports, and those of the packages it is in.
                queue.extend((found[0], prefix, found[1]) for prefix, found in local if found)
                continue
            document = _plugin_of(parts[0])
            if document and document.get("resource") and isinstance(document.get("name"), str):
                need = PluginNeed(
                    name=document["name"],
                    version=str(document["version"]) if document.get("version") else None,
                    package=parts[0],
                    imported_by=shown,
                    server=document.get("server") if isinstance(document.get("server"), str) else None,
                )
                needs.setdefault((need.name, need.version or ""), need)
    return ProgramPlugins(needs=tuple(needs.values()), unread=tuple(unread))


def _shown(path: Path, work_dir: Path, roots: Sequence[Path]) -> str:
    for root in (work_dir, *roots):
        try:
            return str(path.resolve().relative_to(root))
        except ValueError:
            continue
    return str(path)


# --- what the engine has -----------------------------------------------------------------------


def installed_plugins(cli: Path, env: Mapping[str, str]) -> list[InstalledPlugin]:
    """`pulumi plugin ls --json` with the engine's environment (so: its PULUMI_HOME)."""
    try:
        result = subprocess.run(
            [str(cli), "plugin", "ls", "--json"], capture_output=True, text=True, timeout=60, env=dict(env),
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise PluginListFailed(f"{cli} plugin ls did not run: {error}") from None
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise PluginListFailed(f"{cli} plugin ls failed: {reason[-1] if reason else result.returncode}")
    return parse_plugin_list(result.stdout)


def parse_plugin_list(text: str) -> list[InstalledPlugin]:
    try:
        document = json.loads(text or "[]")
    except ValueError:
        raise PluginListFailed("pulumi plugin ls --json printed no JSON") from None
    if document is None:
        return []
    if not isinstance(document, list):
        raise PluginListFailed("pulumi plugin ls --json printed no list")
    return [
        InstalledPlugin(
            name=str(item.get("name")), kind=str(item.get("kind")),
            version=str(item["version"]) if item.get("version") else None,
        )
        for item in document if isinstance(item, dict) and item.get("name")
    ]


def _semver(text: str) -> Optional[tuple]:
    match = _SEMVER.match(text.strip())
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    # A release sorts after its pre-releases; build metadata never counts.
    return int(major), int(minor), int(patch), (1, "") if pre is None else (0, pre)


def satisfies(installed: InstalledPlugin, need: PluginNeed, *, legacy: bool = False) -> bool:
    """Whether the engine would load `installed` for `need`: same kind and name, equal version."""
    if (installed.kind, installed.name) != (need.kind, need.name):
        return False
    if need.version is None or installed.version is None:
        return True
    have, want = _semver(installed.version), _semver(need.version)
    if have is None or want is None:
        return installed.version.lstrip("v") == need.version.lstrip("v")
    return have >= want if legacy else have == want


def ambient_plugin(need: PluginNeed, env: Mapping[str, str]) -> Optional[str]:
    """A `pulumi-<kind>-<name>` executable on the engine's PATH, which the engine prefers."""
    if env_flag(env, "PULUMI_IGNORE_AMBIENT_PLUGINS"):
        return None
    return shutil.which(f"pulumi-{need.kind}-{need.name}", path=env.get("PATH", ""))


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """A Pulumi boolean variable: set when "1" or "true" (any case)."""
    value = env.get(name, "").strip()
    return value == "1" or value.lower() == "true"
