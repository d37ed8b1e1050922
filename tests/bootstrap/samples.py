"""Settings the bootstrap tests start from."""

from __future__ import annotations

from bootstrap.render import BootstrapSettings

# Valid for every Octopus name field, and dangerous if anything along the way evaluated it.
HOSTILE_NAME = "O'Brien $(touch pwned) `touch pwned` ${HOME} ; & | * ~ ! # % \u2018quoted\u2019 {a,b}"


def sample_settings(**overrides) -> BootstrapSettings:
    values = dict(
        server_url="https://octopus.example.com", space="Default", environment="Feature", roles=("web", "api"),
        tenant="ryan0001", machine_policy="Feature environments",
        registration_key_parameter="/phoenix/ryan0001/registration-key", health_url="http://127.0.0.1:80/health",
        health_timeout_seconds=900, health_interval_seconds=10, lifecycle_hook_name="phoenix-ryan0001-launch",
        termination_hook_name="phoenix-ryan0001-deregister",
        asg_name="phoenix-ryan0001-fleet", region="eu-west-1", infrastructure_version="1.0.0-ryan0001+0a1b2c3d",
        tentacle_package_source="https://packages.example.com/tentacle", machine_name_prefix="ryan0001",
    )
    values.update(overrides)
    return BootstrapSettings(**values)
