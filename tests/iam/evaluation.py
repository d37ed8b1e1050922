"""IAM documents of a synthesized feature, judged by real policy tools: parliament lints, moto evaluates.

What each tool covers (checked against their source, moto 5.2.5 and parliament 1.6.4):

- moto's `IAMPolicyStatement.is_action_permitted` (moto/iam/access_control.py)
  matches a statement's Action/NotAction and Resource against a request, with
  `*` wildcards, checks an AWS principal of a resource policy, and evaluates
  conditions with the StringEquals operator only. It ignores every other
  operator (a Bool or ArnLike condition counts as met), counts a condition key
  the request lacks as met (and then compares the other keys' values by
  position, so they shift against the expected ones), answers DENIED (not "does not apply") for an Allow
  whose principal or condition does not match, does not know NotResource or
  NotPrincipal, and matches actions case-sensitively.
- parliament's `analyze_policy_string` lints identity policies: unknown
  actions, resource types that cannot match an action, conditions an action
  does not support, malformed elements; its community auditors flag privilege
  escalation, credentials exposure and permission management. It does not
  evaluate a request, and it cannot lint a trust policy (no Resource element:
  it reports MALFORMED for any).
- policyuniverse (not used) parses statements, expands action wildcards and
  summarises who a resource policy allows; it evaluates no request.

So moto decides, statement by statement, whether an Allow applies to a
request, and this module combines the answers as AWS documents it; it refuses
what moto cannot judge instead of trusting a wrong answer: a Deny, NotResource
or NotPrincipal anywhere; an allowing statement whose condition uses another
operator than StringEquals or a key the request did not supply. Actions are
compared in lower case on both sides (IAM action names are case-insensitive),
and a principal is handed over as a list (moto tests a string principal with
`in`, which a shorter ARN inside a longer one would pass).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

MANAGED = Path(__file__).resolve().parent / "managed"
#: The condition operators moto's evaluator actually evaluates.
EVALUATED_OPERATORS = frozenset({"StringEquals"})
#: parliament's severities, lowest first; a finding above LOW fails.
SEVERITIES = ("MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
#: LOW findings that are still mistakes: an action AWS does not have is a typo, never a grant.
FAILING_LOW = frozenset({"UNKNOWN_ACTION", "UNKNOWN_PREFIX"})


class NotJudged(AssertionError):
    """The evaluator cannot judge this document or request faithfully."""


def managed_policy(arn: str) -> dict:
    """An AWS managed policy's document as AWS publishes it, pinned in tests/iam/managed with its date."""
    name = arn.rsplit("/", 1)[-1]
    path = MANAGED / f"{name}.json"
    if not path.is_file():
        raise NotJudged(f"{arn} is attached but its published document is not pinned in {MANAGED}")
    pinned = json.loads(path.read_text())
    assert pinned["Arn"] == arn
    return pinned["Document"]


def statements(document: Mapping[str, Any]) -> list[dict]:
    found = document["Statement"]
    return list(found) if isinstance(found, list) else [found]


def _refuse_unjudgeable(document: Mapping[str, Any]) -> None:
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            raise NotJudged(f"moto reports a principal or condition mismatch as DENIED, so a Deny "
                            f"cannot be told from it: {statement}")
        for element in ("NotResource", "NotPrincipal"):
            if element in statement:
                raise NotJudged(f"moto does not evaluate {element}: {statement}")


def _normalized(statement: Mapping[str, Any]) -> dict:
    """Actions in lower case; an AWS principal as a list (moto tests a string with `in`: a substring)."""
    normal = dict(statement)
    for element in ("Action", "NotAction"):
        if element in normal:
            value = normal[element]
            normal[element] = value.lower() if isinstance(value, str) else [a.lower() for a in value]
    principal = normal.get("Principal")
    if isinstance(principal, Mapping) and isinstance(principal.get("AWS"), str):
        normal["Principal"] = {**principal, "AWS": [principal["AWS"]]}
    return normal


def _allows(statement: Mapping[str, Any], *, action: str, resource: str, principal: Optional[str],
            context: Mapping[str, str]) -> bool:
    evaluator = IAMPolicyStatement(_normalized(statement))
    # moto's own action matching decides whether the statement concerns the request.
    concerned = evaluator._check_element_matches("NotAction" if "NotAction" in statement else "Action",
                                                 action.lower()) != ("NotAction" in statement)
    conditions = statement.get("Condition") or {}
    if concerned:
        missing = {key for keys in conditions.values() for key in keys} - set(context)
        if missing:
            raise NotJudged(f"moto counts an absent condition key as met and compares the others by "
                            f"position: supply {sorted(missing)}")
    verdict = evaluator.is_action_permitted(action.lower(), resource, principal, dict(context))
    if verdict != PermissionResult.PERMITTED:
        return False
    unjudged = sorted(set(conditions) - EVALUATED_OPERATORS)
    if unjudged:
        raise NotJudged(f"moto ignores the {', '.join(unjudged)} operator of an allowing statement: {statement}")
    return True


def identity_allows(documents: Sequence[Mapping[str, Any]], *, action: str, resource: str,
                    context: Mapping[str, str] = {}) -> bool:
    """Whether a principal's identity policies allow the request (no Deny: see `_refuse_unjudgeable`)."""
    for document in documents:
        _refuse_unjudgeable(document)
    return any(
        _allows(statement, action=action, resource=resource, principal=None, context=context)
        for document in documents
        for statement in statements(document)
    )


@dataclass(frozen=True)
class Account:
    partition: str
    id: str

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.id}:root"


def kms_allows(*, account: Account, key_policy: Mapping[str, Any], key_arn: str, principal: str,
               identity_policies: Sequence[Mapping[str, Any]], action: str,
               context: Mapping[str, str]) -> bool:
    """KMS's rule for a request from the key's own account (KMS developer guide, "Determining access to
    AWS KMS keys"): allowed when the key policy allows the principal itself, or allows the account
    (root) and the principal's IAM policies allow the request as well."""
    _refuse_unjudgeable(key_policy)
    context = {"kms:CallerAccount": account.id, **context}

    def key_policy_allows(who: str) -> bool:
        return any(
            _allows(statement, action=action, resource=key_arn, principal=who, context=context)
            for statement in statements(key_policy)
        )

    if key_policy_allows(principal):
        return True
    return key_policy_allows(account.root) and identity_allows(
        identity_policies, action=action, resource=key_arn, context=context
    )


@dataclass(frozen=True)
class Finding:
    issue: str
    severity: str
    detail: Any
    document: str

    @property
    def fails(self) -> bool:
        return SEVERITIES.index(self.severity) > SEVERITIES.index("LOW") or self.issue in FAILING_LOW


def lint(name: str, document: Mapping[str, Any], *, community: bool) -> list[Finding]:
    """parliament's findings for one document, with the severities its config gives them."""
    import parliament

    if community:  # what `parliament --include-community-auditors` does: their findings' severities
        parliament.override_config(
            str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
        )
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=community)
    found = []
    for finding in policy.findings:
        parliament.enhance_finding(finding)
        found.append(Finding(finding.issue, finding.severity, finding.detail, name))
    return found
