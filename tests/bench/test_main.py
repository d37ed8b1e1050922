"""`python -m bench`: choosing benchmarks, reporting problems, and the per-stack growth verdict."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import machine
from bench.report import Report
from bench.scale import per_stack_rows


def test_an_unknown_benchmark_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main.main(["startup", "nope"])
    assert exited.value.code == 2
    assert "unknown benchmark nope" in capsys.readouterr().err


def test_a_failing_benchmark_does_not_hide_the_others_and_fails_the_run(monkeypatch, capsys) -> None:
    def fake(name, args):
        if name == "startup":
            raise RuntimeError("the CLI is missing")
        return Report(f"table of {name}", ok=name != "soak")

    monkeypatch.setattr(bench_main, "_run", fake)
    assert bench_main.main(["calls", "startup"]) == 1
    out = capsys.readouterr()
    assert out.out.index("startup: FAILED: RuntimeError: the CLI is missing") < out.out.index("table of calls")
    assert "problems in: startup" in out.err

    assert bench_main.main(["calls"]) == 0
    assert bench_main.main(["soak", "--lifecycles", "3"]) == 1


def test_soak_sizes_must_be_positive(capsys) -> None:
    with pytest.raises(SystemExit):
        bench_main.main(["soak", "--workers", "0"])


def test_the_machine_is_described_for_the_readme() -> None:
    described = dict(machine.describe())
    assert {"cores (nproc)", "memory", "CPU", "Python", "Pulumi CLI"} <= set(described)
    assert described["cores (nproc)"].isdigit()


def test_time_per_stack_that_grows_is_not_linear() -> None:
    rows = per_stack_rows({1: 1.0, 10: 5.0, 50: 40.0})
    assert [(size, per, linear) for size, _, per, _, linear in rows] == [
        (1, 1.0, "yes"), (10, 0.5, "yes"), (50, 0.8, "NO"),
    ]
    assert rows[2][3] == "1.60x"
