"""The rollout resource as the fleet declares it, configured from the stack (`phoenix:rollout`).

The group and its launch template live in the Auto Scaling stand-in, set up
by the test as pulumi-aws would have created them; this program owns only
the version the group runs. Polls are fast so an engine test takes seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pulumi

from components.rollout import RolloutGate, RolloutGateProvider

PROJECT_DIR = Path(__file__).resolve().parent
FAST = RolloutGateProvider(poll_seconds=0.05, max_poll_seconds=0.2)


def program() -> None:
    settings = pulumi.Config("phoenix").require_object("rollout")
    rollout = RolloutGate(
        "fleet-rollout",
        asg_name=settings["asgName"],
        region=settings["region"],
        launch_template_id=settings["templateId"],
        launch_template_version=settings["version"],
        timeout_minutes=settings.get("timeoutMinutes", 1),
        instance_warmup_seconds=30,
        provider=FAST,
    )
    pulumi.export("status", rollout.status)
    pulumi.export("refresh_id", rollout.refresh_id)


def config(**settings: Any) -> str:
    """`phoenix:rollout` as `pulumi config set-all --json` takes it."""
    return json.dumps({"phoenix:rollout": {"value": json.dumps(settings), "objectValue": settings, "secret": False}})


def copy_project(destination: Path) -> Path:
    """A private copy of the project folder, so stack files never land in the repository."""
    shutil.copytree(PROJECT_DIR, destination, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "program.py"))
    return destination
