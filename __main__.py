"""The phoenix program: one feature environment per stack.

Reads the stack config once, validates all of it before any resource is
registered, and builds one `FeatureEnvironment`. Pulumi runs this file as
`__main__`; the Automation API and the tests call `main()` as an inline
program.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.settings import OBJECT_KEYS, SECRET_KEYS, TEXT_KEYS, parse_settings


def stack_config() -> dict[str, Any]:
    """The flat stack config `parse_settings` takes: objects parsed, secrets as plain text.

    Secrets stay plain only until `FeatureEnvironment` wraps them in a secret
    output; settings never show them in a repr.
    """
    values: dict[str, Any] = {}
    for key in TEXT_KEYS + SECRET_KEYS + OBJECT_KEYS:
        namespace, name = key.split(":", 1)
        config = pulumi.Config(namespace)
        value = config.get_object(name) if key in OBJECT_KEYS else config.get(name)
        if value is not None:
            values[key] = value
    return values


def main() -> None:
    settings = parse_settings(stack_config())
    # Imported after validation: bad config fails before pulumi_aws loads.
    from components.environment import FeatureEnvironment, FeatureEnvironmentArgs

    environment = FeatureEnvironment("phoenix", FeatureEnvironmentArgs(settings=settings))
    pulumi.export("url", environment.url)
    pulumi.export("asg_name", environment.asg_name)
    pulumi.export("tenant_id", environment.tenant_id)
    pulumi.export("package_version", environment.package_version)
    pulumi.export("infrastructure_version", environment.infrastructure_version)
    # `python -m automation` reads it back to keep the image pinned (`automation/image.py`).
    pulumi.export("image_id", environment.image_id)


if __name__ == "__main__":
    main()
