"""A real HTTP endpoint speaking the Auto Scaling Query API, for the provider's own process.

The provider runs in a separate `python -m pulumi.dynamic` process where no
in-process mock can reach, and moto models no instance refreshes. This server
answers the two calls the gate makes, DescribeAutoScalingGroups and
DescribeInstanceRefreshes, with XML written from botocore's service model, so
the provider's botocore parses exactly what it would parse from AWS. Like AWS
it refuses unsigned requests and unknown access keys, and answers unknown
actions and missing parameters with AWS's error documents.

The test scripts the group's states; each DescribeAutoScalingGroups moves to
the next state (the last one stays), and DescribeInstanceRefreshes reports the
refreshes of the state last described.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs
from xml.etree import ElementTree

import botocore.session

from tests.rollout.shapes import REGION

_MODEL = botocore.session.get_session().get_service_model("autoscaling")
_NAMESPACE = _MODEL.metadata["xmlNamespace"]
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Step:
    """The group as AWS would describe it at one poll, and its refreshes, newest first."""

    group: Optional[dict[str, Any]]
    refreshes: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Seen:
    action: str
    params: dict[str, str]
    access_key_id: Optional[str]
    region: Optional[str]


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _element(name: str, value: Any, shape: Any) -> ElementTree.Element:
    element = ElementTree.Element(name)
    kind = shape.type_name
    if kind == "structure":
        for member, member_shape in shape.members.items():
            if value.get(member) is not None:
                element.append(_element(member_shape.serialization.get("name", member), value[member], member_shape))
    elif kind == "list":
        for item in value:
            element.append(_element(shape.member.serialization.get("name", "member"), item, shape.member))
    elif kind == "timestamp":
        element.text = value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif kind == "boolean":
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
    return element


def render(operation: str, result: dict[str, Any]) -> bytes:
    """The XML document AWS sends for `operation`, built from the service model."""
    output = _MODEL.operation_model(operation).output_shape
    root = ElementTree.Element(f"{operation}Response", xmlns=_NAMESPACE)
    wrapper = _element(output.serialization["resultWrapper"], result, output)
    root.append(wrapper)
    metadata = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(metadata, "RequestId").text = str(uuid.uuid4())
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def render_error(error: AwsError) -> bytes:
    root = ElementTree.Element("ErrorResponse", xmlns=_NAMESPACE)
    detail = ElementTree.SubElement(root, "Error")
    ElementTree.SubElement(detail, "Type").text = "Sender"
    ElementTree.SubElement(detail, "Code").text = error.code
    ElementTree.SubElement(detail, "Message").text = error.message
    ElementTree.SubElement(root, "RequestId").text = str(uuid.uuid4())
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


class AutoScalingStandIn:
    """Auto Scaling on 127.0.0.1 for one test; `url` goes in AWS_ENDPOINT_URL_AUTO_SCALING."""

    def __init__(self, *, access_key_id: str, region: str = REGION) -> None:
        self.access_key_id = access_key_id
        self.region = region
        self.requests: list[Seen] = []
        self._steps: list[Step] = []
        self._at = -1
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def play(self, *steps: Step) -> None:
        with self._lock:
            self._steps = list(steps)
            self._at = -1

    def actions(self) -> list[str]:
        return [seen.action for seen in self.requests]

    def start(self) -> "AutoScalingStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                params = {key: values[0] for key, values in parse_qs(body).items()}
                try:
                    status, payload = 200, stand_in._answer(params, self.headers.get("Authorization", ""))
                except AwsError as error:
                    status, payload = error.status, render_error(error)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "AutoScalingStandIn":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _answer(self, params: dict[str, str], authorization: str) -> bytes:
        action = params.get("Action", "")
        signed = _CREDENTIAL.search(authorization)
        with self._lock:
            self.requests.append(
                Seen(action, params, signed.group(1) if signed else None, signed.group(2) if signed else None)
            )
            if not signed or not authorization.startswith("AWS4-HMAC-SHA256 "):
                raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
            key, region, service = signed.groups()
            if key != self.access_key_id:
                raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
            if region != self.region or service != "autoscaling":
                raise AwsError(
                    403,
                    "SignatureDoesNotMatch",
                    f"Credential should be scoped to a valid region and service, not '{region}/{service}'.",
                )
            if action == "DescribeAutoScalingGroups":
                return self._describe_groups(params)
            if action == "DescribeInstanceRefreshes":
                return self._describe_refreshes(params)
            raise AwsError(400, "InvalidAction", f"Could not find operation {action} for version 2011-01-01")

    def _describe_groups(self, params: dict[str, str]) -> bytes:
        names = [value for key, value in sorted(params.items()) if key.startswith("AutoScalingGroupNames.member.")]
        self._at = min(self._at + 1, len(self._steps) - 1)
        group = self._steps[self._at].group if self._steps else None
        found = [group] if group and (not names or group["AutoScalingGroupName"] in names) else []
        return render("DescribeAutoScalingGroups", {"AutoScalingGroups": found})

    def _describe_refreshes(self, params: dict[str, str]) -> bytes:
        name = params.get("AutoScalingGroupName")
        if not name:
            raise AwsError(
                400,
                "ValidationError",
                "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy "
                "constraint: Member must not be null",
            )
        step = self._steps[max(self._at, 0)] if self._steps else Step(None)
        limit = int(params.get("MaxRecords", 50))
        found = [r for r in step.refreshes if r["AutoScalingGroupName"] == name][:limit]
        return render("DescribeInstanceRefreshes", {"InstanceRefreshes": found})


