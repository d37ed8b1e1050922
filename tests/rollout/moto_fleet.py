"""A launch template and an auto scaling group in moto, with the refresh history moto lacks.

moto reports every instance as running the template's *default* version
whatever it launched from, so here a rollout completes when the default moves
to the new version: from one poll to the next every instance reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.rollout.refresh_history import RefreshHistory
from tests.rollout.shapes import GROUP, REGION, TEMPLATE_NAME, refresh

IMAGE_ID = "ami-12c6146b"  # one of the AMIs moto knows


@dataclass
class MotoFleet:
    ec2: Any
    autoscaling: Any
    template_id: str
    history: RefreshHistory = field(default_factory=RefreshHistory)
    name: str = GROUP

    @classmethod
    def create(cls, desired: int = 2) -> "MotoFleet":
        ec2 = boto3.client("ec2", region_name=REGION)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        template = ec2.create_launch_template(
            LaunchTemplateName=TEMPLATE_NAME,
            LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.small"},
        )["LaunchTemplate"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=GROUP,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "1"},
            MinSize=1,
            MaxSize=4,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{REGION}a", f"{REGION}b"],
        )
        fleet = cls(ec2=ec2, autoscaling=autoscaling, template_id=template["LaunchTemplateId"])
        fleet.history.attach(autoscaling)
        return fleet

    def new_version(self, *, refresh_status: str | None = "InProgress", **refresh_fields: Any) -> str:
        """A new template version on the group, as pulumi-aws applies it, and the refresh AWS starts."""
        version = str(
            self.ec2.create_launch_template_version(
                LaunchTemplateId=self.template_id,
                LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.small", "UserData": "IyEvYmluL2Jhc2gK"},
            )["LaunchTemplateVersion"]["VersionNumber"]
        )
        self.autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=self.name,
            LaunchTemplate={"LaunchTemplateId": self.template_id, "Version": version},
        )
        if refresh_status:
            self.history.start(refresh(refresh_status, **refresh_fields))
        return version

    def finish_rollout(self, version: str) -> None:
        self.ec2.modify_launch_template(LaunchTemplateId=self.template_id, DefaultVersion=version)
        started = self.history.refreshes[0]["InstanceRefreshId"]
        self.history.set_latest(refresh("Successful", percent=100, to_update=0, refresh_id=started))

    def instance_ids(self) -> list[str]:
        found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])
        return [i["InstanceId"] for i in found["AutoScalingGroups"][0]["Instances"]]
