"""`python -m bench mutation`: what counts as text-only, the scores, mutmut's settings, the subprocess relay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import mutation, mutation_relay
from bench.mutation_site.sitecustomize import HITS_ENV

# What mutmut writes into `mutants/`: the original function and each mutant beside it.
MUTATED = '''
def x_greet__mutmut_orig(name):
    if not name:
        raise ValueError("a name is needed here")
    return {"Name": name, "Greeting": f"hello {name}"}

def x_greet__mutmut_1(name):
    if not name:
        raise ValueError("XXa name is needed hereXX")
    return {"Name": name, "Greeting": f"hello {name}"}

def x_greet__mutmut_2(name):
    if not name:
        raise ValueError("a name is needed here")
    return {"XXNameXX": name, "Greeting": f"hello {name}"}

def x_greet__mutmut_3(name):
    if name:
        raise ValueError("a name is needed here")
    return {"Name": name, "Greeting": f"hello {name}"}

def x_greet__mutmut_4(name):
    if not name:
        raise ValueError(None)
    return {"Name": name, "Greeting": f"hello {name}"}

class Greeter:
    def xǁGreeterǁsay__mutmut_orig(self):
        return "good morning"
    def xǁGreeterǁsay__mutmut_1(self):
        return "GOOD MORNING"
'''


def test_a_mutant_that_only_rewords_a_message_is_text_only_and_one_that_renames_a_key_is_not() -> None:
    assert mutation.text_only_mutants(MUTATED) == {"x_greet__mutmut_1", "xǁGreeterǁsay__mutmut_1"}


def test_scores_count_timeouts_as_detected_and_leave_text_only_mutants_out_of_the_second() -> None:
    codes = {
        "pkg.mod.x_greet__mutmut_1": 0,   # text-only, survived
        "pkg.mod.x_greet__mutmut_2": 1,   # killed
        "pkg.mod.x_greet__mutmut_3": 36,  # timeout
        "pkg.mod.x_greet__mutmut_4": 33,  # no test reaches it: a survivor
        "pkg.mod.x_greet__mutmut_5": 1,   # text-only, killed
    }
    tally = mutation.tally("pkg/mod.py", codes, {"x_greet__mutmut_1", "x_greet__mutmut_5"})
    assert (tally.mutants, tally.killed, tally.survived, tally.timeouts, tally.other) == (5, 2, 2, 1, 0)
    assert tally.score == pytest.approx(3 / 5)
    assert tally.score_without_text == pytest.approx(2 / 3)
    assert tally.survivors == ("pkg.mod.x_greet__mutmut_4",), "a text-only survivor is not listed"
    table = mutation.render_table([tally])
    assert "60.0%" in table and "66.7%" in table and "NO" in table


def test_a_run_stopped_early_scores_what_it_checked_and_never_meets_the_goal() -> None:
    codes = {"m.x_f__mutmut_1": 1, "m.x_f__mutmut_2": 1, "m.x_f__mutmut_3": None, "m.x_f__mutmut_4": None}
    tally = mutation.tally("m.py", codes, {"x_f__mutmut_2", "x_f__mutmut_4"})
    assert (tally.unchecked, tally.other) == (2, 0)
    assert tally.score == 1.0 and tally.score_without_text == 1.0
    assert tally.goal_met == "partial: 2 checked"


@pytest.mark.parametrize("name", ["components/rollout.py", "components.rollout", "rollout"])
def test_a_module_is_named_by_path_dotted_name_or_file_name(name: str) -> None:
    assert mutation.resolve_module(name) == "components/rollout.py"


def test_an_unknown_module_is_refused_before_anything_runs(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main.main(["mutation", "rollout", "nothing"])
    assert exited.value.code == 2
    assert "unknown module nothing" in capsys.readouterr().err


def test_every_measured_module_and_test_file_exists() -> None:
    for module, tests in mutation.MODULES.items():
        assert (mutation.ROOT / module).is_file(), module
        for test in tests:
            assert (mutation.ROOT / test.split("::")[0]).is_file(), test


def test_mutmut_reads_the_module_its_tests_and_the_relay_from_the_generated_settings(tmp_path, monkeypatch) -> None:
    from mutmut import configuration

    (tmp_path / "setup.cfg").write_text(mutation._config("components/octopus/tenant.py"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    configuration.reset_config()
    try:
        config = configuration.config()
        assert config.should_mutate("components/octopus/tenant.py")
        assert not config.should_mutate("components/octopus/override.py")
        assert config.pytest_add_cli_args_test_selection == list(mutation.MODULES["components/octopus/tenant.py"])
        assert config.pytest_add_cli_args[:2] == ["-p", "bench.mutation_relay"]
        assert [str(p) for p in config.source_paths] == list(mutation.SOURCE_DIRS)
        assert config.process_isolation.value == "forkserver"
        assert "--timeout=300" in config.pytest_add_cli_args and config.timeout_constant == 60
    finally:
        configuration.reset_config()


def test_a_child_process_gets_the_live_mutant_and_the_mutated_copy_first(monkeypatch) -> None:
    from mutmut.mutation import trampoline

    monkeypatch.setattr(trampoline, "_mutant_under_test", "components.rollout.x_observe__mutmut_7")
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    env = mutation_relay.child_env({"PATH": "/bin", "PYTHONPATH": "/elsewhere"})
    assert env["PATH"] == "/bin"
    assert env["MUTANT_UNDER_TEST"] == "components.rollout.x_observe__mutmut_7"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(mutation_relay.SITE), str(mutation_relay.ROOT), "/elsewhere"]


def test_hits_in_a_child_process_are_relayed_back_once_each(tmp_path, monkeypatch) -> None:
    """A real interpreter started as a test would start it, reaching a function through mutmut's trampoline."""
    monkeypatch.setattr(mutation_relay, "_hits_folder", str(tmp_path))
    child = (
        "from mutmut.mutation import trampoline\n"
        "trampoline.record_trampoline_hit('components.naming.x_stack_name')\n"
        "trampoline.record_trampoline_hit('components.naming.x_stack_name')\n"
        "trampoline.record_trampoline_hit('components.naming.x_digest')\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "MUTANT_UNDER_TEST": "stats", HITS_ENV: str(tmp_path),
           "PYTHONPATH": str(mutation_relay.SITE)}
    subprocess.run([sys.executable, "-c", child], env=env, check=True, timeout=60, cwd=tmp_path)
    assert mutation_relay.take_hits() == {"components.naming.x_stack_name", "components.naming.x_digest"}
    assert list(Path(tmp_path).glob("*.hits")) == [], "taken hits are not taken twice"


def test_outside_the_stats_run_a_child_records_nothing(tmp_path) -> None:
    child = (
        "from mutmut.mutation import trampoline\n"
        "import sys\n"
        "sys.exit(0 if trampoline.record_trampoline_hit.__module__ == 'mutmut.stats' else 1)\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "MUTANT_UNDER_TEST": "components.naming.x_digest__mutmut_1",
           HITS_ENV: str(tmp_path), "PYTHONPATH": str(mutation_relay.SITE)}
    subprocess.run([sys.executable, "-c", child], env=env, check=True, timeout=60, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []
