"""What `python -m automation synth FEATURE` runs: create's config, synthesized and printed."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from automation.pulumi_cli import PROJECT_ROOT
from automation.synth.formats import render
from automation.synth.model import Synthesis
from automation.synth.placeholders import (
    PLACEHOLDER_IMAGE, placeholder_version, secret_stand_ins, shares_deploy_key,
)
from automation.synth.run import synthesize


def masked_environ(environ: Mapping[str, str], *, shares_deploy_key: bool = False) -> dict[str, str]:
    """The environment with each secret variable create reads replaced by its stand-in."""
    from automation.config import SECRET_ENV

    masked = dict(environ)
    stand_ins = secret_stand_ins(
        {key: environ.get(variable) for key, variable in SECRET_ENV.items()},
        shares_deploy_key=shares_deploy_key,
    )
    for key, variable in SECRET_ENV.items():
        if key in stand_ins:
            masked[variable] = stand_ins[key]
        else:
            masked.pop(variable, None)
    return masked


def synth_feature(
    feature: Any,
    *,
    sources: Any,
    work_dir: Path = PROJECT_ROOT,
    environ: Optional[Mapping[str, str]] = None,
) -> Synthesis:
    """Synthesize one feature (`automation.feature.Feature`) from the config create would write.

    `sources` are defaults.yaml and the --set overrides (`automation.config.load`),
    as create reads them. Without a package version synth uses
    `placeholder_version` and says so: create would look the release up in
    Octopus, which synth never calls. The image is PLACEHOLDER_IMAGE unless
    fleet.amiId names one: create pins the newest match from EC2.
    """
    from automation import config

    version = feature.package_version or placeholder_version(feature.id)
    stack_config = config.build(
        sources,
        feature,
        package_version=version,
        environ=masked_environ(
            os.environ if environ is None else environ,
            shares_deploy_key=shares_deploy_key(sources.values.get("phoenix:octopus")),
        ),
        image_id=PLACEHOLDER_IMAGE,
    )
    synthesis = synthesize(stack_config.flat(), stack=feature.stack_name, work_dir=Path(work_dir))
    if feature.package_version is None:
        note = (
            f"package version {version} is a stand-in: pass --version (create finds the "
            "feature's newest release in Octopus instead)"
        )
        synthesis = dataclasses.replace(synthesis, notes=synthesis.notes + (note,))
    return synthesis


def run_cli(args: Any, *, console: Any, session: Any) -> int:
    """`python -m automation synth FEATURE [--version V] [--format F] [--output FILE]`."""
    from automation.feature import parse_feature

    feature = parse_feature(args.feature, getattr(args, "package_version", None))
    synthesis = synth_feature(
        feature, sources=session.sources, work_dir=session.options.work_dir, environ=session.environ
    )
    text = render(synthesis, args.format)
    if args.format == "mermaid":
        from automation.cost.render import synthesis_lines

        for line in synthesis_lines(synthesis):
            console.log(f"[{feature.id}] {line}")
    if args.format != "tree":
        for note in synthesis.notes:
            console.log(f"[{feature.id}] note: {note}")
    if args.output and args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        console.log(f"[{feature.id}] wrote the {args.format} synth to {path}")
    else:
        console.out(text.rstrip("\n"))
    return 0

