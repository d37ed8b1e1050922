"""`FeatureDomain`: the feature's name in its Route 53 zone and the certificate the HTTPS listener serves.

The certificate is validated through DNS in the same zone: ACM names one
CNAME per certificate name, the component writes each into the zone, and the
validation resource waits until ACM has issued the certificate. The listener
takes the certificate's ARN from that wait, never from the certificate
itself: it is created only once the certificate is issued, and on destroy it
goes before the certificate (ACM refuses to delete a certificate in use).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from components import dns_names, naming
from components.settings import ZONE_KEY, DnsSettings, SettingsError

#: How long the program waits for ACM to issue the certificate. With the records in a
#: public, delegated Route 53 zone it takes minutes; longer means ACM cannot see them.
VALIDATION_TIMEOUT = "30m"
#: Validation records change only with the certificate; a short TTL lets a new one show quickly.
VALIDATION_RECORD_TTL = 60


@dataclass(frozen=True)
class HostedZone:
    """The public hosted zone the feature's name goes in, as Route 53 reported it."""

    id: str
    name: str


def look_up_zone(settings: DnsSettings, *, parent: Optional[pulumi.Resource] = None) -> Optional[HostedZone]:
    """The configured zone, looked up before anything is created; None without `dns.zone`.

    A zone AWS does not have fails the look-up itself; a private zone or a name
    no feature fits fails here, naming the setting. ACM validates through public
    DNS only, so a private zone would leave the certificate pending for ever.
    """
    zone = settings.zone
    if zone is None:
        return None
    options = pulumi.InvokeOptions(parent=parent)
    if zone.id is not None:
        found = aws.route53.get_zone(zone_id=zone.id, opts=options)
    else:
        found = aws.route53.get_zone(name=zone.name, private_zone=False, opts=options)
    if found.private_zone:
        raise SettingsError(ZONE_KEY, f"{zone} is a private hosted zone: ACM validates certificates through public "
                                      "DNS only, and nobody outside its VPCs could resolve the feature's name")
    name = dns_names.normalized_zone_name(found.name)
    problem = dns_names.zone_name_problem(name)
    if problem:
        raise SettingsError(ZONE_KEY, f"{zone} is zone {name!r}, which {problem}")
    return HostedZone(id=found.zone_id, name=name)


@dataclass(frozen=True, kw_only=True)
class FeatureDomainArgs:
    """What a feature's name and certificate are built from."""

    feature: str
    """Feature id: the first label of the name."""
    zone: HostedZone
    """The public zone the name, and the certificate's validation records, go in."""
    load_balancer_dns_name: pulumi.Input[str]
    """The load balancer the name points at (an alias record: no TTL, no charge for queries)."""
    load_balancer_zone_id: pulumi.Input[str]
    """The load balancer's own hosted zone id, which an alias record names."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the certificate (records take none)."""


class FeatureDomain(pulumi.ComponentResource):
    """`FEATURE.<zone>` pointing at the load balancer, and an issued certificate for it."""

    url: str
    host_name: str
    certificate_arn: pulumi.Output[str]
    record_fqdn: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureDomainArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("phoenix:index:FeatureDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zone = args.zone
        self.host_name = dns_names.host_name(args.feature, zone.name)
        self.url = dns_names.feature_url(args.feature, zone.name)
        names = dns_names.certificate_names(args.feature, zone.name)

        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=names[0],
            subject_alternative_names=list(names[1:]) or None,
            validation_method="DNS",
            tags=naming.named(args.tags, self.host_name),
            opts=child,
        )
        records = [
            aws.route53.Record(
                f"{name}-validation-{index}",
                zone_id=zone.id,
                name=_validation(certificate, domain, "resource_record_name"),
                type=_validation(certificate, domain, "resource_record_type"),
                records=[_validation(certificate, domain, "resource_record_value")],
                ttl=VALIDATION_RECORD_TTL,
                # ACM names the same record for the same name and account: a new certificate
                # must not meet the old one's record still in the zone.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
            for index, domain in enumerate(names)
        ]
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create=VALIDATION_TIMEOUT)),
        )
        alias = aws.route53.Record(
            f"{name}-alias",
            zone_id=zone.id,
            name=self.host_name,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=args.load_balancer_dns_name,
                    zone_id=args.load_balancer_zone_id,
                    evaluate_target_health=True,
                )
            ],
            opts=child,
        )

        self.certificate_arn = validation.certificate_arn
        self.record_fqdn = alias.fqdn
        self.register_outputs(
            {
                "url": self.url,
                "host_name": self.host_name,
                "certificate_arn": self.certificate_arn,
                "record_fqdn": self.record_fqdn,
            }
        )


def _validation(certificate: aws.acm.Certificate, domain: str, field_name: str) -> pulumi.Output[str]:
    """One field of the CNAME ACM asks for to validate `domain` (its options are a set: found by name)."""

    def pick(options: list) -> str:
        for option in options or ():
            if _option_field(option, "domain_name") == domain:
                return _option_field(option, field_name)
        raise ValueError(f"ACM named no validation record for {domain}")

    return certificate.domain_validation_options.apply(pick)


def _option_field(option: object, field_name: str) -> str:
    """A field of a validation option: the SDK's typed object, or a plain dict (camelCase) if untyped."""
    if hasattr(option, field_name):
        return getattr(option, field_name)
    camel = "".join(part if index == 0 else part.title() for index, part in enumerate(field_name.split("_")))
    return option[camel]  # type: ignore[index]
