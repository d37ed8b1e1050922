"""A pytest plugin that `python -m bench mutation` loads (`-p bench.mutation_relay`): subprocesses count.

mutmut runs the tests in its copy of the project (`mutants/`), says which mutant is live
through MUTANT_UNDER_TEST, and learns which tests reach a function from hits recorded in
the test process. Tests that start Python (the gRPC provider host, the synth CLI, the
emulator's own process) often pass a clean environment or run from another folder, so
their child would import the unmutated project and never see the live mutant, and its
hits would be lost. Every process a test starts therefore gets:

- MUTANT_UNDER_TEST as it is now in this process;
- a PYTHONPATH that starts with `bench/mutation_site` (its `sitecustomize` relays the
  child's hits into a folder) and the mutated copy of the project;

and the hits the children relayed are added to the current test's before mutmut files them.
Nothing here is imported by a normal test run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench.mutation_site.sitecustomize import HITS_ENV

SITE = Path(__file__).resolve().with_name("mutation_site")
ROOT = Path(__file__).resolve().parents[1]
"""The copy of the project mutmut runs the tests in."""

_original_init = subprocess.Popen.__init__
_hits_folder = ""


def child_env(env: "dict[str, str] | None") -> dict[str, str]:
    """The environment a test's subprocess gets: the one asked for, plus what mutmut needs."""
    from mutmut.mutation.trampoline import get_mutant_under_test

    merged = dict(os.environ if env is None else env)
    paths = [str(SITE), str(ROOT)] + ([merged["PYTHONPATH"]] if merged.get("PYTHONPATH") else [])
    merged.update({"MUTANT_UNDER_TEST": get_mutant_under_test(), "PYTHONPATH": os.pathsep.join(paths),
                   HITS_ENV: _hits_folder})
    return merged


def _popen_init(self, args, *rest, env=None, **kwargs):
    _original_init(self, args, *rest, env=child_env(env), **kwargs)


def take_hits() -> set[str]:
    """The function names the children reached since the last call (their files are emptied)."""
    names: set[str] = set()
    for path in Path(_hits_folder).glob("*.hits"):
        try:
            text = path.read_text(encoding="utf-8")
            path.unlink()
        except FileNotFoundError:
            continue
        names.update(line for line in text.splitlines() if line)
    return names


def _file_hits() -> None:
    hits = take_hits()
    if hits:
        from mutmut.state import state

        state()._stats.update(hits)


def pytest_configure(config: pytest.Config) -> None:
    global _hits_folder
    _hits_folder = tempfile.mkdtemp(prefix="phoenix-mutation-hits-")
    subprocess.Popen.__init__ = _popen_init


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _original_init
    shutil.rmtree(_hits_folder, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    yield
    _file_hits()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: "pytest.Item | None") -> None:
    _file_hits()
