"""AWS checks: a region the SDK knows; credentials found locally, then accepted by one STS call;
the feature's name: HTTPS or a warning, a public hosted zone, and credentials that may change it.

boto3 is imported inside the checks: `python -m automation --help` stays fast.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from automation.doctor.probe import NotChecked, Probe, missing, need, source_of
from automation.doctor.report import FAIL, OK, WARN, Check


def aws_config():
    """Short timeouts and two attempts: a preflight must answer quickly."""
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})


def known_regions() -> set[str]:
    """Every region botocore's bundled endpoint data names, in every partition (no network)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    # Straight from the data files: a session would read (and trip over) AWS_PROFILE.
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    regions: set[str] = set()
    for partition in resolver.get_available_partitions():
        regions.update(resolver.get_available_endpoints("ec2", partition))
    return regions


def check_region(probe: Probe) -> Check:
    region = probe.ctx.config.get("aws:region")
    where = probe.setting("aws:region")
    if not isinstance(region, str) or not region.strip():
        return Check("aws.region", FAIL, "aws:region is not set", f"set {where}")
    if region not in known_regions():
        return Check(
            "aws.region", WARN, f"{region!r} is not a region this AWS SDK knows (a typo, or a newer region)",
            f"check {where}",
        )
    return Check("aws.region", OK, f"{region} ({source_of(probe.ctx.sources, 'aws:region') or 'stack config'})")


def check_credentials(probe: Probe) -> Check:
    """Found without a network call; then one cheap identity call says whether AWS accepts them."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    region = probe.ctx.config.get("aws:region")
    fix = (
        "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where an "
        "instance or task role applies)"
    )
    try:
        session = boto3.session.Session(region_name=region)
        credentials = session.get_credentials()
    except BotoCoreError as error:
        return Check("aws.credentials", FAIL, str(error), fix)
    if credentials is None:
        return Check(
            "aws.credentials", FAIL,
            "no AWS credentials (environment, AWS_PROFILE, shared files or instance role)", fix,
        )
    method = credentials.method
    try:
        identity = session.client("sts", config=aws_config()).get_caller_identity()
    except ClientError as error:
        details = error.response.get("Error", {})
        return Check(
            "aws.credentials", FAIL,
            f"AWS refused the credentials from {method}: {details.get('Code')}: {details.get('Message')}",
            fix,
        )
    except BotoCoreError as error:
        return Check("aws.credentials", FAIL, f"credentials from {method}; AWS STS did not answer: {error}",
                     "check the network path to AWS (proxy, AWS_ENDPOINT_URL_STS)")
    return Check(
        "aws.credentials", OK,
        f"account {identity.get('Account')} as {identity.get('Arn')} (credentials from {method})",
    )


# --- the feature's name: the zone, and whether these credentials may change it -------------------

#: What create and destroy do in the zone, and to the certificate (simulated, never called).
ZONE_ACTIONS = ("route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets")
CHANGE_ACTIONS = ("route53:GetChange",)
CERTIFICATE_ACTIONS = (
    "acm:RequestCertificate", "acm:DescribeCertificate", "acm:ListTagsForCertificate",
    "acm:AddTagsToCertificate", "acm:DeleteCertificate",
)


def _dns(probe: Probe):
    """The validated settings' `dns` and `fleet`, or NotChecked."""
    if probe.settings is None:
        raise NotChecked("settings")
    return probe.settings.dns, probe.settings.fleet


def _feature(probe: Probe) -> str:
    return probe.ctx.feature or "FEATURE"


def check_https(probe: Probe) -> Check:
    """Without a zone the feature is plain HTTP at the balancer's name; say so, and to whom."""
    from components.settings import HTTPS_PORT, ZONE_KEY

    dns, fleet = _dns(probe)
    cidrs = ", ".join(fleet.listener_cidrs)
    if dns.zone is None:
        who = "the internet" if fleet.public_cidrs else "these private networks"
        return Check(
            "aws.https", WARN,
            f"no dns.zone: the feature is served over plain HTTP at its load balancer's name, port "
            f"{fleet.listener_port}, to {cidrs} ({who})",
            f"set {probe.setting(ZONE_KEY)} to a public Route 53 hosted zone: https://{_feature(probe)}.<zone>, "
            "HTTP redirected to it",
        )
    name = dns.zone.name or f"the name of zone {dns.zone.id}"
    return Check(
        "aws.https", OK,
        f"https://{_feature(probe)}.{name} on port {HTTPS_PORT} ({dns.tls_policy}); port {fleet.listener_port} "
        f"redirects to it; open to {cidrs}",
    )


def _route53(probe: Probe):
    import boto3

    return boto3.session.Session(region_name=probe.ctx.config.get("aws:region")).client("route53", config=aws_config())


def _zones_named(client, name: str) -> list[dict]:
    """The hosted zones with exactly this name (ListHostedZonesByName starts there and goes on)."""
    answer = client.list_hosted_zones_by_name(DNSName=name, MaxItems="10")
    return [zone for zone in answer.get("HostedZones", []) if zone["Name"].rstrip(".").lower() == name]


def _all_zone_names(client) -> list[str]:
    """Every zone name in the account, for near matches; an error here only loses the hint."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = client.get_paginator("list_hosted_zones").paginate()
        return [zone["Name"].rstrip(".") for page in pages for zone in page.get("HostedZones", [])]
    except (BotoCoreError, ClientError):
        return []


def check_zone(probe: Probe) -> Check:
    """The zone exists, is public, and every feature fits a name in it; it is kept for the access check."""
    from botocore.exceptions import BotoCoreError, ClientError

    from components import dns_names
    from components.settings import ZONE_KEY

    dns, fleet = _dns(probe)
    if dns.zone is None:
        return Check("aws.zone", OK, "no dns.zone: no hosted zone to look up")
    where = probe.setting(ZONE_KEY)
    client = _route53(probe)
    try:
        if dns.zone.id is not None:
            try:
                zone = client.get_hosted_zone(Id=dns.zone.id)["HostedZone"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "NoSuchHostedZone":
                    raise
                return Check("aws.zone", FAIL, f"no hosted zone {dns.zone.id} in the account",
                             f"correct {where}: the id of a public hosted zone (Z...)")
        else:
            found = _zones_named(client, dns.zone.name)
            public = [zone for zone in found if not zone.get("Config", {}).get("PrivateZone")]
            if not found:
                text = missing("hosted zone", dns.zone.name, _all_zone_names(client), "the account")
                return Check("aws.zone", FAIL, text, f"correct {where}, or create the zone and delegate it")
            zone = (public or found)[0]
    except ClientError as error:
        details = error.response.get("Error", {})
        return Check("aws.zone", FAIL, f"Route 53 refused to show the zone: {details.get('Code')}: "
                     f"{details.get('Message')}", "allow route53:GetHostedZone and route53:ListHostedZonesByName")
    except BotoCoreError as error:
        return Check("aws.zone", FAIL, f"Route 53 did not answer: {error}", "check the network path to AWS")
    zone_id = zone["Id"].rsplit("/", 1)[-1]
    name = dns_names.normalized_zone_name(zone["Name"])
    shown = f"{name} ({zone_id})"
    if zone.get("Config", {}).get("PrivateZone"):
        if fleet.public_cidrs:
            why = (f"fleet.listenerCidrs lets in {', '.join(fleet.public_cidrs)}, where nobody can resolve "
                   f"{_feature(probe)}.{name}; and ACM validates certificates through public DNS only")
        else:
            why = "ACM validates certificates through public DNS only: the certificate would stay pending"
        return Check("aws.zone", FAIL, f"{shown} is a private hosted zone: {why}",
                     f"set {where} to a public hosted zone")
    problem = dns_names.zone_name_problem(name)
    if problem:
        return Check("aws.zone", FAIL, f"{shown} {problem}", f"set {where} to a shorter zone")
    probe.zone = {"id": zone_id, "name": name}
    count = zone.get("ResourceRecordSetCount")
    return Check("aws.zone", OK, f"{shown}, public, {count} records: features are named FEATURE.{name}")


def principal_arn(caller_arn: str, role_arn: Callable[[str], Optional[str]]) -> Optional[str]:
    """The IAM principal whose policies apply to a caller: a user as it is, a session's role; None for others.

    `role_arn` finds a role's ARN by name (its path is not in the session's ARN).
    """
    parts = caller_arn.split(":", 5)
    if len(parts) != 6:
        return None
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    if service == "iam" and resource.startswith("user/"):
        return caller_arn
    if service == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return role_arn(role) or f"arn:{partition}:iam::{account}:role/{role}"
    return None


def check_zone_access(probe: Probe) -> Check:
    """Whether these credentials may change the zone and request certificates, asked of IAM's policy
    simulator: Route 53 and ACM have no dry run, and a write is never a preflight."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from components import dns_names

    dns, _ = _dns(probe)
    if dns.zone is None:
        return Check("aws.zoneAccess", OK, "no dns.zone: nothing to change")
    zone = need(probe.zone, "aws.zone")
    session = boto3.session.Session(region_name=probe.ctx.config.get("aws:region"))
    iam = session.client("iam", config=aws_config())
    cannot_tell = "grant the credentials iam:SimulatePrincipalPolicy on themselves to have this checked"
    try:
        caller = session.client("sts", config=aws_config()).get_caller_identity()["Arn"]

        def role_arn(name: str) -> Optional[str]:
            try:
                return iam.get_role(RoleName=name)["Role"]["Arn"]
            except ClientError:
                return None

        principal = principal_arn(caller, role_arn)
        if principal is None:
            return Check("aws.zoneAccess", WARN, f"cannot tell without writing: {caller} is no IAM user or role "
                         "session, whose policies IAM can simulate", "run as an IAM user or role")
        partition = caller.split(":")[1]
        names = dns_names.certificate_names(_feature(probe), zone["name"])
        asked = (
            (ZONE_ACTIONS, f"arn:{partition}:route53:::hostedzone/{zone['id']}", _record_context(names)),
            (CHANGE_ACTIONS, f"arn:{partition}:route53:::change/*", []),
            (CERTIFICATE_ACTIONS, "*", []),
        )
        denied = []
        for actions, resource, context in asked:
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal, ActionNames=list(actions), ResourceArns=[resource],
                ContextEntries=context,
            )
            denied += [
                f"{result['EvalActionName']} ({result['EvalDecision']})"
                for page in pages for result in page["EvaluationResults"] if result["EvalDecision"] != "allowed"
            ]
    except ClientError as error:
        details = error.response.get("Error", {})
        return Check("aws.zoneAccess", WARN, f"cannot tell without writing: IAM's policy simulator answered "
                     f"{details.get('Code')}: {details.get('Message')}", cannot_tell)
    except BotoCoreError as error:
        return Check("aws.zoneAccess", WARN, f"cannot tell: IAM did not answer: {error}", cannot_tell)
    if denied:
        return Check(
            "aws.zoneAccess", FAIL,
            f"{principal} may not change zone {zone['name']} or its certificates: " + ", ".join(denied),
            f"allow these actions on arn:{partition}:route53:::hostedzone/{zone['id']} (Route 53) and on ACM "
            "certificates",
        )
    return Check("aws.zoneAccess", OK, f"{principal} may change zone {zone['name']} and request its certificates "
                 "(IAM's policy simulator, nothing written)")


def _record_context(names: Sequence[str]) -> list[dict]:
    """The condition keys Route 53 evaluates on ChangeResourceRecordSets, as create and destroy set them.

    `names` are the certificate's (the host name among them); each validation record is named
    `_<token>.<name>` with ACM's token, which a stand-in token shows the shape of.
    """
    values = {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
            {*names, *(f"_acm-validation-token.{name}" for name in names)}
        ),
        "route53:ChangeResourceRecordSetsRecordTypes": ["A", "CNAME"],
        "route53:ChangeResourceRecordSetsActions": ["CREATE", "UPSERT", "DELETE"],
    }
    return [{"ContextKeyName": key, "ContextKeyValues": value, "ContextKeyType": "stringList"}
            for key, value in values.items()]
