"""`python -m bench mutation`: what counts as text-only, the scores, mutmut's settings, the subprocess relay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import mutation, mutation_guard, mutation_relay
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


def _project(root: Path) -> Path:
    """A small git project laid out like this one: a source folder mutmut copies itself, tests, a README."""
    for name, text in {"components/tiny.py": "def f():\n    return 1\n", "tests/test_tiny.py": "def test_f(): pass\n",
                       "README.md": "tiny\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    return root


def _stopped_run(work: Path, codes: dict) -> Path:
    """What mutmut leaves in a work folder: the module's verdicts and its test-to-function map."""
    meta = work / "mutants" / "components" / "tiny.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes, "hash_by_function_name": {"x_f": "abc"},
                                "type_check_error_by_key": {}, "durations_by_key": {}, "estimated_durations_by_key": {}}),
                    encoding="utf-8")
    (work / "mutants" / "mutmut-stats.json").write_text("{}", encoding="utf-8")
    return meta


def test_resuming_re_checks_survivors_and_unchecked_mutants_and_keeps_kills_and_timeouts(tmp_path) -> None:
    root, work = _project(tmp_path / "project"), tmp_path / "work"
    work.mkdir()
    mutation._copy_project(work, root)
    codes = {"components.tiny.x_f__mutmut_1": 1, "components.tiny.x_f__mutmut_2": 0,
             "components.tiny.x_f__mutmut_3": 33, "components.tiny.x_f__mutmut_4": 36,
             "components.tiny.x_f__mutmut_5": None, "components.tiny.x_f__mutmut_6": 3}
    meta = _stopped_run(work, codes)
    assert mutation.resumable(work, "components/tiny.py")

    assert mutation.prepare_resume(work, "components/tiny.py", root) == []
    after = json.loads(meta.read_text(encoding="utf-8"))
    assert after["exit_code_by_key"] == {**codes, "components.tiny.x_f__mutmut_2": None,
                                         "components.tiny.x_f__mutmut_3": None}
    assert after["hash_by_function_name"] == {"x_f": "abc"}, "mutmut's hashes decide which functions changed"
    assert not (work / "mutants" / "mutmut-stats.json").exists(), "a changed function may be reached by other tests"


def test_resuming_brings_in_the_tests_changed_since(tmp_path) -> None:
    root, work = _project(tmp_path / "project"), tmp_path / "work"
    work.mkdir()
    mutation._copy_project(work, root)
    _stopped_run(work, {"components.tiny.x_f__mutmut_1": 1})
    (root / "tests" / "test_tiny.py").write_text("def test_f():\n    assert 1\n", encoding="utf-8")
    (root / "tests" / "test_new.py").write_text("def test_g(): pass\n", encoding="utf-8")

    assert sorted(mutation.prepare_resume(work, "components/tiny.py", root)) == ["tests/test_new.py",
                                                                                  "tests/test_tiny.py"]
    assert (work / "mutants" / "tests" / "test_tiny.py").read_text(encoding="utf-8") == "def test_f():\n    assert 1\n"
    assert (work / "mutants" / "tests" / "test_new.py").exists()
    assert not (work / "mutants" / "components").joinpath("tiny.py").exists(), "sources are mutmut's to copy"


def test_a_folder_without_mutmut_verdicts_is_not_resumed(tmp_path) -> None:
    root, work = _project(tmp_path / "project"), tmp_path / "work"
    work.mkdir()
    mutation._copy_project(work, root)
    assert not mutation.resumable(work, "components/tiny.py")
    assert not mutation.resumable(tmp_path / "nothing", "components/tiny.py")


def test_resume_belongs_to_the_mutation_run(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main.main(["startup", "--resume"])
    assert exited.value.code == 2
    assert "--resume continues a mutation run" in capsys.readouterr().err


def test_resume_may_stand_between_the_modules(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main.main(["mutation", "tenant", "--resume", "nothing"])
    assert exited.value.code == 2
    assert "unknown module nothing" in capsys.readouterr().err


def test_jobs_belong_to_the_mutation_run_and_are_at_least_one(capsys) -> None:
    for argv, said in ((["startup", "--jobs", "2"], "--jobs belongs to a mutation run"),
                       (["mutation", "--jobs", "0", "tenant"], "--jobs must be at least 1")):
        with pytest.raises(SystemExit) as exited:
            bench_main.main(argv)
        assert exited.value.code == 2
        assert said in capsys.readouterr().err


def test_jobs_reach_mutmut_as_its_children(tmp_path, monkeypatch) -> None:
    seen: list[list[str]] = []
    module = "components/octopus/tenant.py"
    monkeypatch.setattr(mutation, "RESULTS", tmp_path)
    monkeypatch.setattr(mutation, "_copy_project", lambda work, root: None)

    def fake_mutmut(command, *, cwd, **_):
        seen.append(command)
        (Path(cwd) / "mutants" / "components" / "octopus").mkdir(parents=True)
        (Path(cwd) / "mutants" / f"{module}.meta").write_text(json.dumps({"exit_code_by_key": {}}), encoding="utf-8")
        (Path(cwd) / "mutants" / module).write_text("", encoding="utf-8")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(mutation.subprocess, "run", fake_mutmut)
    with (tmp_path / "log").open("w", encoding="utf-8") as log:
        mutation.run_module(module, log=log, jobs=2)
    assert seen[0] == [sys.executable, str(mutation.GUARD), "run", "--max-children", "2"]


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_a_timeout_stops_the_process_it_was_set_for() -> None:
    child = _sleeper()
    try:
        mutation_guard.Timeouts().register(child.pid, 0.2)
        assert child.wait(timeout=10) == -signal.SIGXCPU
    finally:
        child.kill()


def test_a_timeout_spares_a_process_that_took_over_the_pid_of_one_that_ended() -> None:
    """mutmut 3.8.1's own timeout signals the pid regardless: here it once stopped a test run."""
    child = _sleeper()
    started = {"now": "started earlier"}
    try:
        mutation_guard.Timeouts(identity=lambda pid: started["now"]).register(child.pid, 0.2)
        started["now"] = "started later"  # the registered process ended and another has its pid
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=1.5)
    finally:
        child.kill()
        child.wait()


def test_a_process_start_time_is_read_from_proc_and_gone_with_the_process() -> None:
    child = _sleeper()
    first = mutation_guard.start_time(child.pid)
    assert first is not None and first.isdigit() and first == mutation_guard.start_time(child.pid)
    assert mutation_guard.start_time(os.getpid()) != first
    child.kill()
    child.wait()
    assert mutation_guard.start_time(child.pid) is None


def test_mutmut_takes_its_timeouts_from_the_guard(tmp_path, monkeypatch) -> None:
    (tmp_path / "setup.cfg").write_text("[mutmut]\nsource_paths = src\n", encoding="utf-8")
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path)  # mutmut reads its settings from the working folder as it is imported
    import mutmut.workers.isolation as isolation
    import mutmut.workers.timeout as timeout

    monkeypatch.setattr(isolation, "register_timeout", isolation.register_timeout)
    monkeypatch.setattr(timeout, "register_timeout", timeout.register_timeout)
    guard = mutation_guard.Timeouts()
    mutation_guard.install(guard)
    assert isolation.register_timeout == guard.register and timeout.register_timeout == guard.register
