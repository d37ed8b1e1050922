"""The machine the figures were taken on: cores, memory, CPU model, Python, Pulumi."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional


def _first(path: str, prefix: str) -> Optional[str]:
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def memory_gib() -> Optional[float]:
    total = _first("/proc/meminfo", "MemTotal")
    return int(total.split()[0]) / (1024 * 1024) if total else None


def describe() -> list[tuple[str, str]]:
    from automation import pulumi_cli

    memory = memory_gib()
    cli = pulumi_cli.find_cli()
    return [
        ("cores (nproc)", str(os.cpu_count() or "?")),
        ("memory", f"{memory:.1f} GiB" if memory else "?"),
        ("CPU", _first("/proc/cpuinfo", "model name") or platform.processor() or "?"),
        ("Python", platform.python_version()),
        ("Pulumi CLI", pulumi_cli.cli_version(cli) if cli else "not installed"),
        ("OS", f"{platform.system()} {platform.release()}"),
    ]
