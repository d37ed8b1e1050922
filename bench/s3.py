"""The S3 backend against the file backend: `list` and `reap --dry-run` over 1, 10 and 50 feature stacks.

Two sandboxes hold the same features, one in a folder, one in a bucket of
moto's S3 server (reached through the fault proxy with no faults, as a
runner with only the README's policy): every stack is `up`ped for real, a
tenant and an override each. The commands run interleaved, file then S3, so
a busy machine slows both alike; the ratio is S3's time per stack over the
file backend's. Every S3 request is a loopback HTTP round trip here; a real
bucket adds network latency on top.
"""

from __future__ import annotations

import json
from typing import Any

from bench.report import Report
from bench.scale import populate
from bench.table import ratio, render
from bench.timing import interleaved_medians

SIZES = (1, 10, 50)
QUICK_SIZES = (1, 4)
RUNS = 3
QUICK_RUNS = 1
COMMANDS = {
    "list": ("list", "--json"),
    "reap --dry-run": ("reap", "--dry-run", "--older-than", "0s", "--json"),
}


def _checked(box: Any, args: tuple[str, ...], size: int) -> None:
    """Run a command once and check that it saw every stack: a timing of a wrong answer means nothing."""
    done = json.loads(box.cli(*args).stdout)
    if len(done) != size:
        raise RuntimeError(f"`{' '.join(args)}` on {box.backend_url.split('?')[0]} saw {len(done)} of {size} stacks")


def run(*, quick: bool = False) -> Report:
    from bench.sandbox import sandbox

    sizes = QUICK_SIZES if quick else SIZES
    runs = QUICK_RUNS if quick else RUNS
    rows = []
    requests: dict[tuple[str, int], int] = {}
    with sandbox() as file_box, sandbox(s3=True) as s3_box:
        features: list[str] = []
        for size in sizes:
            new = [f"s{index:03d}" for index in range(len(features) + 1, size + 1)]
            for box in (file_box, s3_box):
                populate(box, new)
            features += new
            if s3_box.stacks() != set(features) or file_box.stacks() != set(features):
                raise RuntimeError(f"populating {size} stacks failed")
            for name, args in COMMANDS.items():
                for box in (file_box, s3_box):
                    _checked(box, args, size)
                proxy = s3_box.s3.proxy
                before = len(proxy.log.records())
                medians = interleaved_medians(
                    {"file": lambda: file_box.cli(*args), "s3": lambda: s3_box.cli(*args)}, runs
                )
                requests[(name, size)] = (len(proxy.log.records()) - before) // runs
                file_s, s3_s = medians["file"], medians["s3"]
                rows.append((name, size, file_s, s3_s, file_s / size, s3_s / size, ratio(s3_s / file_s),
                             requests[(name, size)]))
    rows.sort(key=lambda row: (row[0], row[1]))
    return Report(render(
        f"5. S3 backend vs file backend: `list` and `reap --dry-run` over N stacks (median of {runs}, interleaved)",
        ["command", "stacks", "file s", "S3 s", "file per stack", "S3 per stack", "S3 / file", "S3 requests"],
        rows,
        note=(
            "S3: moto's server in its own process on 127.0.0.1, through the fault proxy (no faults), IAM enforced.\n"
            "S3 requests: per run of the command, counted at the proxy (the CLI's and phoenix's together)."
        ),
    ))
