"""IAM's SimulatePrincipalPolicy for moto, which lacks it: the one AWS call that says, without writing,
whether a principal may change a hosted zone.

It follows the IAM API reference for SimulatePrincipalPolicy: the principal is
a user (its inline, attached and group policies) or a role (inline and
attached); each action is evaluated against each resource ARN; the decision is
`explicitDeny` when a Deny statement matches, else `allowed` when an Allow
does, else `implicitDeny`; an unknown principal is `NoSuchEntity`. Statement
matching is moto's own evaluator (`tests.iam.evaluation`), which refuses what
it cannot judge (conditions other than StringEquals, NotResource) rather than
answer wrongly; a Deny statement matches exactly when it would as an Allow.
The request passes moto's own authorization first, so a caller without
iam:SimulatePrincipalPolicy is refused with AccessDenied, as AWS does, when
moto's access control is on. botocore parses the answer against the service
model, so its shape is the real one.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from tests.iam.evaluation import identity_allows, statements


def _documents(backend: Any, principal_arn: str) -> list[dict]:
    from moto.iam.exceptions import NoSuchEntity

    kind, _, path = principal_arn.split(":", 5)[-1].partition("/")
    name = path.rsplit("/", 1)[-1]
    if kind == "user":  # moto's get_user and get_role raise NoSuchEntity, as AWS answers
        holders = [backend.get_user(name), *backend.get_groups_for_user(name)]
    elif kind == "role":
        holders = [backend.get_role(name)]
    else:
        raise NoSuchEntity(f"PolicySourceArn {principal_arn} is no user or role")
    documents = []
    for holder in holders:
        documents += [json.loads(text) if isinstance(text, str) else text for text in holder.policies.values()]
        for policy in holder.managed_policies.values():
            version = next(v for v in policy.versions if v.version_id == policy.default_version_id)
            documents.append(json.loads(version.document))
    return documents


def decide(documents: list[dict], action: str, resource: str) -> str:
    def matches(statement: dict) -> bool:
        as_allow = {**statement, "Effect": "Allow"}
        return identity_allows([{"Statement": [as_allow]}], action=action, resource=resource)

    every = [statement for document in documents for statement in statements(document)]
    if any(matches(s) for s in every if s.get("Effect") == "Deny"):
        return "explicitDeny"
    if any(matches(s) for s in every if s.get("Effect") == "Allow"):
        return "allowed"
    return "implicitDeny"


def _simulate_principal_policy(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.models import iam_backends

    backend = iam_backends[self.current_account][self.partition]
    principal = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    documents = _documents(backend, principal)
    results = [
        {
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": decide(documents, action, resource),
            "MatchedStatements": [],
            "MissingContextValues": [],
        }
        for action in actions
        for resource in resources
    ]
    self.simulated.append({"principal": principal, "actions": actions, "resources": resources,
                           "context": self._get_param("ContextEntries", [])})
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


@pytest.fixture
def iam_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """moto answers SimulatePrincipalPolicy; the list records each request (principal, actions, resources)."""
    from moto.iam.responses import IamResponse

    asked: list[dict] = []
    monkeypatch.setattr(IamResponse, "simulate_principal_policy", _simulate_principal_policy, raising=False)
    monkeypatch.setattr(IamResponse, "simulated", asked, raising=False)
    yield asked
