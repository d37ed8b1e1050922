"""AWS checks: a region the SDK knows; credentials found locally, then accepted by one STS call.

boto3 is imported inside the checks: `python -m automation --help` stays fast.
"""

from __future__ import annotations

from automation.doctor.probe import Probe, source_of
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
