"""The contexts doctor runs in: `create`/`preview` before touching a stack, and `doctor` itself."""

from __future__ import annotations

from typing import Any, Optional

from automation.doctor.probe import DoctorContext
from automation.doctor.report import exit_code, render_json, render_table
from automation.doctor.runner import run_checks


def context_for_stack(session: Any, config: Any, package_version: Optional[str]) -> DoctorContext:
    """The context of a `StackConfig` (`automation.config`): the one a command is about to write."""
    return DoctorContext(
        config=config.flat(),
        sources=config.sources,
        package_version=package_version,
        backend_url=session.backend.url,
        work_dir=session.options.work_dir,
        feature=config.values.get("phoenix:feature"),
    )


def context_for_doctor(
    session: Any, feature_text: Optional[str], package_version: Optional[str]
) -> DoctorContext:
    """The context of `doctor`: like `create`'s, but a missing feature or API key is a finding, not an error."""
    from automation import config as stack_config
    from automation.feature import parse_feature

    feature = None
    if feature_text or package_version:
        feature = parse_feature(feature_text or str(package_version), package_version)
    version = feature.package_version if feature else None
    config = stack_config.collect(
        session.sources, feature, package_version=version, environ=session.environ,
        require_api_key=False,
    )
    return context_for_stack(session, config, version)


def run_cli(args: Any, *, console: Any, session: Any) -> int:
    """`python -m automation doctor [FEATURE] [--version V] [--json]`: every check, a table or JSON."""
    ctx = context_for_doctor(session, args.feature, getattr(args, "package_version", None))
    checks = run_checks(ctx, "all")
    console.out(render_json(checks) if console.json_mode else render_table(checks))
    return exit_code(checks)
