"""A feature's flat stack config, shaped exactly as `automation` writes it.

Shared by the unit tests, synth and the benchmarks. The keys are fakes of the
real shape; a test that looks for leaks searches for these exact values.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

SAMPLE_API_KEY = "API-SAMPLEADMIN0000000000000000"
SAMPLE_REGISTRATION_KEY = "API-SAMPLEREGISTER00000000000000"

SAMPLE_CONFIG: dict[str, Any] = {
    "aws:region": "eu-west-1",
    "octopus:serverUrl": "https://octopus.example.com",
    "octopus:space": "Default",
    "octopus:apiKey": SAMPLE_API_KEY,
    "octopus:registrationApiKey": SAMPLE_REGISTRATION_KEY,
    "phoenix:feature": "ryan0001",
    "phoenix:packageVersion": "1.0.0-ryan0001",
    "phoenix:ttl": "72h",
    "phoenix:imageId": "ami-0a1b2c3d4e5f60718",
    "phoenix:octopus": {
        "project": "Phoenix Web",
        "environment": "Feature",
        "roles": ["web"],
        "machinePolicy": "Feature environments",
        "tenantTags": [],
        "adoptExistingTenant": False,
        "shareDeployKeyWithInstances": False,
        "tenantVariables": {
            "url": "Phoenix.Url",
            "feature": "Phoenix.Feature",
            "packageVersion": "Phoenix.PackageVersion",
            "values": {},
            "sensitive": {},
        },
    },
    "phoenix:network": {"cidr": "10.20.0.0/16", "azCount": 2, "nat": "single"},
    "phoenix:fleet": {
        "os": "linux",
        "instanceType": "t3.small",
        "amiId": "",
        "amiOwners": ["amazon"],
        "amiNamePattern": "",
        "minSize": 1,
        "maxSize": 2,
        "desiredCapacity": 1,
        "appPort": 80,
        "listenerPort": 80,
        "listenerCidrs": ["0.0.0.0/0"],
        "healthCheckPath": "/health",
        "healthyStatusCodes": "200",
        "healthTimeoutSeconds": 900,
        "lifecycleHeartbeatSeconds": 600,
        "instanceWarmupSeconds": 60,
        "rolloutTimeoutMinutes": 30,
        "tentaclePackageSource": "",
        "volumeKey": "feature",
    },
    "phoenix:tags": {"team": "web"},
}

SECRET_KEYS = ("octopus:apiKey", "octopus:registrationApiKey", "phoenix:tenantVariableSecrets")


def sample_config(changes: Optional[Mapping[str, Any]] = None, *, feature: Optional[str] = None) -> dict[str, Any]:
    """A fresh copy of the sample with `changes` applied.

    Keys are flat (`phoenix:feature`) or dotted into an object
    (`phoenix:fleet.maxSize`); a value of None removes the key. `feature`
    renames the feature and its package version together.
    """
    config = copy.deepcopy(SAMPLE_CONFIG)
    if feature is not None:
        config["phoenix:feature"] = feature
        config["phoenix:packageVersion"] = f"1.0.0-{feature}"
    for key, value in (changes or {}).items():
        top, _, inner = key.partition(".")
        target, name = (config[top], inner) if inner else (config, top)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return config
