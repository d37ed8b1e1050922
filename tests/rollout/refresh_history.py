"""Instance refreshes for a moto-backed client: moto models groups but no refreshes.

`RefreshHistory.attach(client)` answers the client's DescribeInstanceRefreshes
from a list the test keeps, newest first and limited to MaxRecords as AWS
does, each answer checked against the service model's output shape. Every
other call still goes to moto.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator


@dataclass
class RefreshHistory:
    refreshes: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    def start(self, record: dict[str, Any]) -> None:
        """A new refresh: AWS lists it first from now on."""
        self.refreshes.insert(0, record)

    def set_latest(self, record: dict[str, Any]) -> None:
        self.refreshes[0] = record

    def attach(self, client: Any) -> None:
        shape = client.meta.service_model.operation_model("DescribeInstanceRefreshes").output_shape

        def answer(params: dict[str, Any], **_: Any):
            self.calls += 1
            body = params["body"]
            name = body["AutoScalingGroupName"]
            limit = int(body.get("MaxRecords", 50))
            found = [r for r in self.refreshes if r["AutoScalingGroupName"] == name][:limit]
            parsed = {"InstanceRefreshes": found}
            report = ParamValidator().validate(parsed, shape)
            assert not report.has_errors(), report.generate_report()
            return AWSResponse(None, 200, {}, None), parsed

        client.meta.events.register("before-call.auto-scaling.DescribeInstanceRefreshes", answer)
