"""The image a feature's instances boot: chosen once, then pinned in the stack until asked to move.

The first `create` of a feature looks up the newest image matching
fleet.amiOwners and fleet.amiNamePattern (EC2 DescribeImages); the program
exports it as `image_id`, and every later `create` or `preview` reads it back
from there and keeps it. A new AMI release therefore changes nothing and
`preview --expect-no-changes` stays green. The image moves only when asked:
`create FEATURE --refresh-image` looks again, fleet.amiId names one. Either
way it is part of the infrastructure version, so it rolls like any change.

The choice is made once per run, with the package version, and handed to the
program as the stack setting `phoenix:imageId`: the program never looks up
an image itself. boto3 is imported only where EC2 is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from automation.errors import InputError, OperationFailed

#: The stack output the program exports the image under.
OUTPUT = "image_id"


@dataclass(frozen=True)
class ImageChoice:
    """The image to pin (None: fleet.amiId decides) and why, for the run's log."""

    image_id: Optional[str]
    reason: str


def choose(
    *, ami_id: Optional[str], pinned: Optional[str], refresh: bool, newest: Callable[[], tuple[str, str]]
) -> ImageChoice:
    """Keep the pinned image unless fleet.amiId names one or a refresh is asked; look up only when needed."""
    if ami_id:
        return ImageChoice(None, f"image {ami_id} from fleet.amiId")
    if pinned and not refresh:
        return ImageChoice(pinned, f"image {pinned} pinned in the stack (--refresh-image looks for a newer one)")
    image_id, name = newest()
    if pinned == image_id:
        return ImageChoice(image_id, f"image {image_id} ({name}) is still the newest; it stays pinned")
    was = f", replacing {pinned}" if pinned else ""
    return ImageChoice(image_id, f"pinning image {image_id} ({name}), the newest match{was}")


def pinned_image(outputs: Mapping[str, Any]) -> Optional[str]:
    """The image the stack last rolled out (its `image_id` output), if it has one."""
    output = outputs.get(OUTPUT)
    value = getattr(output, "value", None)
    return value if isinstance(value, str) and value.startswith("ami-") else None


def newest_image(*, region: str, owners: tuple[str, ...], name_pattern: str, client: Any = None) -> tuple[str, str]:
    """(id, name) of the newest available image matching the pattern; a clear error when there is none."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not owners:
        # DescribeImages without Owners searches every account's public images: anyone could
        # publish one whose name matches the pattern.
        raise InputError("fleet.amiOwners is empty: name the accounts whose images may be used "
                         "(e.g. [amazon]), or set fleet.amiId")
    if client is None:
        import boto3

        client = boto3.session.Session().client("ec2", region_name=region)
    where = f"owned by {', '.join(owners)} in {region}"
    try:
        images = client.describe_images(
            Owners=list(owners),
            Filters=[{"Name": "name", "Values": [name_pattern]}, {"Name": "state", "Values": ["available"]}],
        ).get("Images") or []
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise OperationFailed(f"AWS refused DescribeImages ({where}): {detail.get('Code')}: "
                              f"{detail.get('Message', '')}") from None
    except BotoCoreError as error:
        raise OperationFailed(f"could not ask AWS for the newest image {where}: {error}") from None
    if not images:
        raise InputError(f"no available image matches fleet.amiNamePattern {name_pattern!r} {where}: "
                         "fix the pattern or the owners, or set fleet.amiId")
    newest = max(images, key=lambda image: (image.get("CreationDate") or "", image["ImageId"]))
    return newest["ImageId"], newest.get("Name") or name_pattern


def choose_for(session: Any, feature: Any, settings: Any, *, refresh: bool) -> ImageChoice:
    """The choice for one feature: its stack's pinned image, EC2 asked only when needed."""
    fleet = settings.fleet
    pinned = None
    if not fleet.ami_id and not session.engine.holds_no_stack():  # a new local backend holds no stack yet
        try:
            pinned = pinned_image(session.engine.outputs(feature.stack_name))
        except Exception as error:  # a feature without a stack has nothing pinned yet
            if type(error).__name__ != "StackNotFoundError":
                raise
    return choose(
        ami_id=fleet.ami_id,
        pinned=pinned,
        refresh=refresh,
        newest=lambda: newest_image(region=settings.region, owners=fleet.ami_owners, name_pattern=fleet.ami_name_pattern),
    )
