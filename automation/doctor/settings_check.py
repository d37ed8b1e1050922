"""The `settings` check: the stack config `create` would write is valid.

It runs first; the Octopus checks read the typed settings it leaves on the probe.
"""

from __future__ import annotations

from automation.doctor.probe import Probe
from automation.doctor.report import FAIL, OK, Check

#: Stand-ins that let the settings be validated before a feature is named.
STAND_IN_FEATURE = "doctor"
STAND_IN_REGISTRATION_KEY = "not-set-or-the-deploy-key"


def check_settings(probe: Probe) -> Check:
    """The same validation `create` applies, with stand-ins for what doctor may not know yet.

    The feature, its package version and the keys may be absent when doctor
    runs without a feature; their own checks report them.
    """
    from components.settings import SettingsError, parse_settings

    config = dict(probe.ctx.config)
    feature = config.get("phoenix:feature") or STAND_IN_FEATURE
    config["phoenix:feature"] = feature
    if not config.get("phoenix:packageVersion"):
        config["phoenix:packageVersion"] = f"0.0.0-{feature}"
    if not probe.secret("octopus:apiKey"):
        config["octopus:apiKey"] = "not-set"
    if probe.secret("octopus:registrationApiKey") in (None, config["octopus:apiKey"]):
        # Judged by the octopus.registrationKey check, which says how to fix it.
        config["octopus:registrationApiKey"] = STAND_IN_REGISTRATION_KEY
    try:
        probe.settings = parse_settings(config)
    except SettingsError as error:
        return Check(
            "settings", FAIL, f"{error.key}: {error.reason}",
            f"correct {probe.setting(error.key)}",
        )
    return Check("settings", OK, "the stack config is valid")
