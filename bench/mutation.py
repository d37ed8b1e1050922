"""`python -m bench mutation [MODULE ...]`: which plausible bugs in the core modules pass every test.

mutmut (pinned in requirements-test.txt) makes small changes to one module's code, one at
a time (a `+` for a `-`, `True` for `False`, a dropped argument, a changed string), and
runs the tests that reach the changed function, taken from the module's fast test subset
below. A mutant is killed when a test fails, survives when all pass. Each module runs
alone, in a fresh copy of the project under `bench/results/mutation/<module>/` (kept
after the run: `cd` there and `mutmut show NAME` prints a survivor's diff), one mutant at
a time, so two modules' figures never share a cache and a fresh clone reproduces them.

Tests that start Python (the gRPC provider host, the synth CLI, the emulator's process)
count: `bench.mutation_relay` hands the live mutant and the mutated copy to every child
process and relays the functions they reach back to mutmut.

Columns: mutants; killed (a test failed; timeouts are counted apart); survived (every
test passed, or no test in the subset reaches the function); score = (killed +
timeouts) / mutants checked; and the same score without text-only mutants: those that
change nothing but the wording of a message (a string with a space in it), which no test
should pin word for word. A run stopped early (read back with `read_tally`) scores the
mutants it checked and says how many; `python -m bench mutation --resume MODULE` continues it
in the same work folder (see `prepare_resume`), re-checking its survivors against today's tests.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from bench.report import Report
from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation"
SOURCE_DIRS = ("automation", "components", "bootstrap")
"""What mutmut copies into `mutants/` itself (only the measured module is mutated)."""
GUARD = ROOT / "bench" / "mutation_guard.py"
"""mutmut's own command line, with a timeout that signals no process but the mutant it was set for."""
LINKED = (".venv", ".pulumi")
"""Installed, not versioned: linked into the copy, as is every node_modules folder."""
GOAL, GOAL_WITHOUT_TEXT = 0.90, 0.95
TEST_TIMEOUT_SECONDS = 300
SETUP_ALLOWANCE_SECONDS = 60

#: The program's tests that read what it hands the Octopus resources (their constructors run only there).
PROGRAM_OCTOPUS = tuple(
    f"tests/unit/test_program.py::{name}" for name in (
        "test_instances_register_with_what_the_octopus_resources_were_created_with",
        "test_group_launches_only_after_the_tenant_and_override_exist",
        "test_tenant_options_pass_through",
    )
)

# Each module's fast subset: the unit, provider and CLI tests that exercise it, without the
# engine tier (minutes per run; what it adds is covered here through the same functions).
MODULES: dict[str, tuple[str, ...]] = {
    "components/octopus/override.py": (
        "tests/providers/test_override_provider.py", "tests/providers/test_protocol.py",
        "tests/providers/test_provider_config.py", "tests/unit/test_octopus_resources.py", *PROGRAM_OCTOPUS,
    ),
    # reap --orphans reads the tenant's phoenix mark (tests/cli/test_lifetime.py).
    "components/octopus/tenant.py": (
        "tests/providers/test_tenant_provider.py", "tests/providers/test_protocol.py",
        "tests/providers/test_provider_config.py", "tests/unit/test_octopus_resources.py", *PROGRAM_OCTOPUS,
        "tests/cli/test_lifetime.py::test_only_tenants_with_phoenix_mark_for_their_own_name_and_no_stack_are_orphans",
    ),
    "components/rollout.py": (
        "tests/rollout/test_rollout.py", "tests/rollout/test_provider.py", "tests/rollout/test_protocol.py",
        "tests/rollout/test_gate_mocks.py",
    ),
    # Every program test reaches the names; the naming tests hold every rule and the stable names.
    "components/naming.py": ("tests/unit/test_naming.py",),
    "components/versioning.py": ("tests/unit/test_versioning.py", "tests/unit/test_components.py"),
    "automation/reap.py": ("tests/cli/test_reap.py", "tests/cli/test_lifetime.py", "tests/cli/test_summary.py"),
    "automation/feature.py": ("tests/cli/test_feature.py", "tests/cli/test_config.py"),
    "components/settings.py": (
        "tests/unit/test_settings.py", "tests/unit/test_dns_settings.py", "tests/cli/test_tenant_variable_config.py",
        "tests/cli/test_image.py",
    ),
}

# mutmut's exit codes per verdict (mutmut.stats.status_by_exit_code).
KILLED_CODES = {1, 3}
TIMEOUT_CODES = {36, -24, 24, 152, 255}
SURVIVED_CODES = {0, 5, 33}


@dataclass(frozen=True)
class Tally:
    module: str
    mutants: int
    killed: int
    survived: int
    timeouts: int
    other: int
    """Suspicious or segfaulted: in `mutants`, neither killed nor survived."""
    text_only: int
    text_only_killed: int
    survivors: tuple[str, ...]
    seconds: float = 0.0
    unchecked: int = 0
    """Not run yet (a run stopped early): left out of both scores, and the goal is not met."""
    text_only_unchecked: int = 0

    @property
    def score(self) -> float:
        checked = self.mutants - self.unchecked
        return (self.killed + self.timeouts) / checked if checked else 1.0

    @property
    def score_without_text(self) -> float:
        checked = self.mutants - self.unchecked - (self.text_only - self.text_only_unchecked)
        detected = self.killed + self.timeouts - self.text_only_killed
        return detected / checked if checked else 1.0

    @property
    def goal_met(self) -> str:
        if self.unchecked:
            return f"partial: {self.mutants - self.unchecked} checked"
        return "yes" if self.score >= GOAL and self.score_without_text >= GOAL_WITHOUT_TEXT else "NO"


def resolve_module(name: str) -> str:
    """`components/rollout.py`, `components.rollout` or `rollout` -> the key in MODULES."""
    wanted = name.strip().removesuffix(".py").replace(".", "/")
    matches = [m for m in MODULES if m.removesuffix(".py") == wanted or Path(m).stem == wanted]
    if len(matches) != 1:
        raise ValueError(f"unknown module {name!r}; choose from {', '.join(MODULES)}")
    return matches[0]


def _without_messages(node: ast.AST) -> str:
    """The function's tree with every message (a string with whitespace) blanked and its name dropped."""

    class Blank(ast.NodeTransformer):
        def visit_Constant(self, constant: ast.Constant) -> ast.AST:
            if isinstance(constant.value, str) and any(c.isspace() for c in constant.value):
                return ast.copy_location(ast.Constant(value="<message>"), constant)
            return constant

    copy = ast.parse(ast.unparse(node))
    function = copy.body[0]
    function.name = "_"
    return ast.dump(Blank().visit(copy))


def text_only_mutants(mutated_source: str) -> set[str]:
    """Names (`x_fn__mutmut_3`, `xǁClassǁmethod__mutmut_2`) of the mutants that differ from
    their original function only in the wording of messages."""
    functions = {
        node.name: node for node in ast.walk(ast.parse(mutated_source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name
    }
    text_only = set()
    for name, node in functions.items():
        base, _, suffix = name.rpartition("__mutmut_")
        original = functions.get(f"{base}__mutmut_orig")
        if suffix == "orig" or original is None:
            continue
        if _without_messages(node) == _without_messages(original):
            text_only.add(name)
    return text_only


def tally(module: str, exit_codes: Mapping[str, Optional[int]], text_only: Iterable[str],
          seconds: float = 0.0) -> Tally:
    """Count one module's verdicts; `exit_codes` maps `pkg.module.x_fn__mutmut_N` to mutmut's code."""
    text = set(text_only)
    short = {key: key.rpartition(".")[2] for key in exit_codes}
    killed = [k for k, code in exit_codes.items() if code in KILLED_CODES]
    survived = [k for k, code in exit_codes.items() if code in SURVIVED_CODES]
    timeouts = [k for k, code in exit_codes.items() if code in TIMEOUT_CODES]
    unchecked = [k for k, code in exit_codes.items() if code is None]
    return Tally(
        module=module,
        mutants=len(exit_codes),
        killed=len(killed),
        survived=len(survived),
        timeouts=len(timeouts),
        other=len(exit_codes) - len(killed) - len(survived) - len(timeouts) - len(unchecked),
        text_only=sum(1 for k in exit_codes if short[k] in text),
        text_only_killed=sum(1 for k in killed + timeouts if short[k] in text),
        survivors=tuple(sorted(k for k in survived if short[k] not in text)),
        seconds=seconds,
        unchecked=len(unchecked),
        text_only_unchecked=sum(1 for k in unchecked if short[k] in text),
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def render_table(tallies: Sequence[Tally], *, note: str = "") -> str:
    rows = [
        (t.module, t.mutants, t.killed, t.survived, t.timeouts, _percent(t.score), _percent(t.score_without_text),
         t.goal_met, f"{t.seconds:.0f}")
        for t in tallies
    ]
    return render(
        "Mutation testing (mutmut, each module with its fast test subset)",
        ["module", "mutants", "killed", "survived", "timeouts", "score", "score w/o text", "goal met", "seconds"],
        rows,
        note=note,
        wrap=80,
    )


def _project_files(root: Path) -> list[str]:
    """The files a fresh clone has (plus uncommitted ones), mutmut's source folders aside."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    return [name for name in filter(None, listed)
            if name.split("/", 1)[0] not in SOURCE_DIRS and (root / name).is_file()]


def _copy_files(root: Path, mutants: Path, *, changed_only: bool = False) -> list[str]:
    """Copy the project's files into `mutants/`; with `changed_only`, those missing or different there.
    Returns the names copied."""
    copied = []
    for name in _project_files(root):
        target = mutants / name
        if changed_only and target.is_file() and target.read_bytes() == (root / name).read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
        copied.append(name)
    return copied


def _copy_project(work: Path, root: Path) -> None:
    """The project as a fresh clone has it (plus uncommitted files), mutmut's source folders aside."""
    mutants = work / "mutants"
    _copy_files(root, mutants)
    for name in LINKED:
        if (root / name).exists():
            (mutants / name).symlink_to(root / name)
    for modules in root.glob("tests/**/node_modules"):
        if "node_modules" not in modules.relative_to(root).parts[:-1]:
            link = mutants / modules.relative_to(root)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(modules)
    for name in SOURCE_DIRS:
        (work / name).symlink_to(root / name)


def prepare_resume(work: Path, module: str, root: Path) -> list[str]:
    """Make a stopped or finished run's work folder ready to continue; returns the files refreshed.

    mutmut itself keeps a verdict unless the function's source hash changed (it regenerates the
    mutated module when the source is newer and clears the changed functions' verdicts), and runs
    only mutants without one. It never looks at the tests again, and it maps a function to the
    tests that reach it only for tests it has not seen (a new function, or a test that now reaches
    another function, would count as reached by none). So the copy's non-source files are
    refreshed here, the test-to-function map (mutmut-stats.json) is dropped so mutmut collects it
    afresh (which keeps every verdict), and every survivor and "no test reaches it" is cleared so
    the tests added since get their chance. Killed and timed-out mutants of unchanged functions
    stand: a test added since cannot un-kill them.
    """
    mutants = work / "mutants"
    refreshed = _copy_files(root, mutants, changed_only=True)
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)
    meta_path = mutants / f"{module}.meta"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["exit_code_by_key"] = {
        key: None if code in SURVIVED_CODES else code for key, code in meta["exit_code_by_key"].items()
    }
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return refreshed


def resumable(work: Path, module: str) -> bool:
    """A work folder mutmut has already generated this module's mutants in."""
    return (work / "mutants" / f"{module}.meta").is_file() and all((work / name).is_symlink() for name in SOURCE_DIRS)


def _config(module: str) -> str:
    """mutmut's settings for one module (setup.cfg: the copy keeps the project's pyproject.toml)."""
    lines = [
        "[mutmut]",
        "source_paths =", *(f"    {name}" for name in SOURCE_DIRS),
        f"only_mutate = {module}",
        "pytest_add_cli_args_test_selection =", *(f"    {test}" for test in MODULES[module]),
        "pytest_add_cli_args =", "    -p", "    bench.mutation_relay", "    -p", "    no:cacheprovider",
        # A mutant that makes a test wait forever (a retry loop, an output never resolved) fails it
        # after this long instead of pytest.ini's 600 s; a test that starts Python takes up to a
        # minute or two at nice 19 on a busy machine, the others seconds.
        f"    --timeout={TEST_TIMEOUT_SECONDS}",
        # The gRPC channels the provider tests open are not fork-safe: workers fork from a clean server.
        "process_isolation = forkserver",
        # mutmut stops a mutant after (its tests' time + this) x 15 x 2 CPU seconds, timing only the
        # test bodies: the program tests do their work in module fixtures, and a mutant they let
        # pass ran past mutmut's default 1 s and counted as a timeout (detected) when it survived.
        f"timeout_constant = {SETUP_ALLOWANCE_SECONDS}",
        "use_git_change_detection = false",
    ]
    return "\n".join(lines) + "\n"


def work_folder(module: str) -> Path:
    return RESULTS / module.removesuffix(".py").replace("/", ".")


def run_module(module: str, *, log, resume: bool = False, jobs: int = 1) -> Tally:
    """mutmut over one module in a fresh copy of the project (or, with `resume`, in the copy a
    previous run left, see `prepare_resume`); its output goes to `log`."""
    work = work_folder(module)
    if resume and resumable(work, module):
        refreshed = prepare_resume(work, module, ROOT)
        print(f"resuming {work}: {len(refreshed)} files refreshed, survivors and unchecked mutants to run",
              file=log, flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _copy_project(work, ROOT)
    (work / "setup.cfg").write_text(_config(module), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(GUARD), "run", "--max-children", str(jobs)],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
    )
    if done.returncode != 0 or not (work / "mutants" / f"{module}.meta").exists():
        raise RuntimeError(f"mutmut failed on {module} (exit {done.returncode}); see {log.name}")
    return read_tally(work, module, time.monotonic() - started)


def read_tally(work: Path, module: str, seconds: float = 0.0) -> Tally:
    """The verdicts mutmut left in a work folder (also after a run resumed there by hand)."""
    exit_codes = json.loads((work / "mutants" / f"{module}.meta").read_text(encoding="utf-8"))["exit_code_by_key"]
    text = text_only_mutants((work / "mutants" / module).read_text(encoding="utf-8"))
    return tally(module, exit_codes, text, seconds)


def run(*, quick: bool = False, modules: Sequence[str] = (), resume: bool = False, jobs: int = 1) -> Report:
    chosen = [resolve_module(name) for name in modules] or list(MODULES)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tallies = []
    for module in chosen:
        log_path = work_folder(module).with_name(work_folder(module).name + ".log")
        with log_path.open("a" if resume else "w", encoding="utf-8") as log:
            tally_ = run_module(module, log=log, resume=resume, jobs=jobs)
        tallies.append(tally_)
        print(f"  {module}: {_percent(tally_.score)} ({tally_.mutants} mutants, {tally_.seconds:.0f} s)", flush=True)
    survivors = "\n".join(f"  {name}" for t in tallies for name in t.survivors)
    note = (f"goal: >= {GOAL:.0%} overall and >= {GOAL_WITHOUT_TEXT:.0%} without text-only mutants; "
            f"'survived' includes mutants no test in the subset reaches.\n"
            f"work folders and logs: {RESULTS.relative_to(ROOT)}/ (mutmut show NAME there)\n"
            + (f"survivors that change behaviour:\n{survivors}" if survivors else "no survivor changes behaviour"))
    ok = all(t.goal_met == "yes" and not t.other for t in tallies)
    return Report(render_table(tallies, note=note), ok=ok)
