"""The contexts doctor runs in: `create`/`preview` before touching a stack, and `doctor` itself."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from automation.doctor.probe import DoctorContext
from automation.doctor.report import exit_code, render_json, render_table
from automation.doctor.runner import run_checks


def context_for_stack(session: Any, config: Any, package_version: Optional[str]) -> DoctorContext:
    """The context of a `StackConfig` (`automation.config`): the one a command is about to write."""
    from automation.errors import InputError

    try:
        backend_url = session.backend.url
    except InputError:  # not a backend URL: the pulumi.backend check says so, with its fix
        backend_url = session.options.backend or session.environ.get("PULUMI_BACKEND_URL", "")
    return DoctorContext(
        config=config.flat(),
        sources=config.sources,
        package_version=package_version,
        backend_url=backend_url,
        work_dir=session.options.work_dir,
        feature=config.values.get("phoenix:feature"),
    )


def context_for_doctor(
    session: Any, feature_text: Optional[str], package_version: Optional[str], *, read_stack: bool = False
) -> DoctorContext:
    """The context of `doctor`: like `create`'s, but a missing feature or API key is a finding, not an error.

    With `read_stack`, the feature's stack (if any) says which Octopus tenant it manages.
    """
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
    ctx = context_for_stack(session, config, version)
    if feature is None or not read_stack:
        return ctx
    try:
        ids, creating = session.engine.stack_tenants(feature.stack_name)
    except Exception:  # noqa: BLE001 - no CLI or backend: the tenant check says it could not tell
        return ctx
    return replace(ctx, stack_tenant_ids=ids, stack_creating_tenants=creating)


def run_cli(args: Any, *, console: Any, session: Any) -> int:
    """`python -m automation doctor [FEATURE] [--version V] [--json]`: every check, a table or JSON."""
    ctx = context_for_doctor(session, args.feature, getattr(args, "package_version", None), read_stack=True)
    checks = run_checks(ctx, "all")
    console.out(render_json(checks) if console.json_mode else render_table(checks))
    return exit_code(checks)
