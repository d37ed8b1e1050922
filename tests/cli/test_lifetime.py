"""A feature's lifetime, the keep-list that fails closed, the cap and the orphan mark, on a frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest

from automation.errors import InputError
from automation.lifetime import (
    EXPIRES_TAG,
    PINNED_TAG,
    Lifetime,
    after_activity,
    extended,
    format_moment,
    lifetime_of,
    parse_bound,
    parse_moment,
)
from automation.reap import (
    DESTROY,
    KEEP,
    LEFT,
    SKIP,
    STACK,
    TENANT,
    Decision,
    cap,
    check_keep_list,
    orphan_tenants,
    plan,
    run,
)
from automation.summary import Expiry, Report, render
from components.octopus.tenant import made_by_phoenix, phoenix_description
from tests.cli.test_reap import Info

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TTL = timedelta(hours=72)
MAX_TTL = timedelta(days=14)


def test_the_expiry_is_the_later_of_ttl_after_the_update_and_the_recorded_one() -> None:
    updated = NOW - timedelta(hours=10)
    plain = lifetime_of({}, last_update=updated, ttl=TTL)
    assert plain.expires == updated + TTL and not plain.pinned
    later = lifetime_of({EXPIRES_TAG: "2026-03-09T00:00:00Z"}, last_update=updated, ttl=TTL)
    assert later.expires == datetime(2026, 3, 9, tzinfo=timezone.utc)
    earlier = lifetime_of({EXPIRES_TAG: "2026-03-01T00:00:00Z"}, last_update=updated, ttl=TTL)
    assert earlier.expires == updated + TTL, "an old extension never shortens a newer update's TTL"
    garbled = lifetime_of({EXPIRES_TAG: "next tuesday", PINNED_TAG: "TRUE"}, last_update=updated, ttl=TTL)
    assert garbled.expires == updated + TTL and garbled.pinned
    assert lifetime_of({}, last_update=None, ttl=TTL).expires is None


def test_moments_round_trip_through_a_tag() -> None:
    assert format_moment(NOW) == "2026-03-01T12:00:00Z"
    assert parse_moment(format_moment(NOW)) == NOW
    assert parse_moment("2026-03-01T12:00:00") == NOW, "no zone: UTC"
    assert parse_moment("") is None and parse_moment(None) is None


def test_extend_counts_as_activity_and_never_moves_the_expiry_earlier() -> None:
    fresh = Lifetime(last_update=NOW - timedelta(hours=70), ttl=TTL)
    assert extended(fresh, now=NOW, duration=timedelta(days=5), max_ttl=MAX_TTL) == NOW + timedelta(days=5)
    assert extended(fresh, now=NOW, duration=timedelta(hours=1), max_ttl=MAX_TTL) == NOW + TTL, (
        "activity: the TTL counts from now"
    )
    far = Lifetime(last_update=NOW, ttl=TTL, extended_until=NOW + timedelta(days=10))
    assert extended(far, now=NOW, duration=timedelta(days=4), max_ttl=MAX_TTL) == NOW + timedelta(days=10)
    assert after_activity(fresh, now=NOW, max_ttl=MAX_TTL) == NOW + TTL
    assert after_activity(far, now=NOW, max_ttl=MAX_TTL) == NOW + timedelta(days=10)


def test_extend_past_the_max_ttl_is_refused_not_cut_short() -> None:
    with pytest.raises(InputError) as caught:
        extended(Lifetime(last_update=NOW, ttl=TTL), now=NOW, duration=timedelta(days=15), max_ttl=MAX_TTL)
    assert "15d" in str(caught.value) and "feature.maxTtl 14d" in str(caught.value)
    for text in ("0s", "soon", ""):
        with pytest.raises(InputError) as caught:
            parse_bound(text, "DURATION")
        assert "DURATION" in str(caught.value)


def test_expiring_takes_expired_ones_and_never_pinned_ones() -> None:
    soon = Lifetime(last_update=NOW - timedelta(hours=70), ttl=TTL)
    assert soon.expiring(NOW, timedelta(hours=12)) and not soon.expiring(NOW, timedelta(hours=1))
    assert Lifetime(last_update=NOW - timedelta(days=9), ttl=TTL).expiring(NOW, timedelta(0))
    assert not Lifetime(last_update=NOW - timedelta(days=9), ttl=TTL, pinned=True).expiring(NOW, timedelta(days=1))


def test_plan_keeps_pinned_features_honours_extensions_and_takes_orphans_early() -> None:
    stacks = [
        Info("pinned", NOW - timedelta(days=30), tags={PINNED_TAG: "true"}),
        Info("extended", NOW - timedelta(days=5), tags={EXPIRES_TAG: "2026-03-02T00:00:00Z"}),
        Info("lapsed", NOW - timedelta(days=5), tags={EXPIRES_TAG: "2026-03-01T06:00:00Z"}),
        Info("orphan", NOW - timedelta(hours=1)),
        Info("pinnedorphan", NOW - timedelta(hours=1), tags={PINNED_TAG: "true"}),
        Info("young", NOW - timedelta(hours=1)),
    ]
    orphans = {"orphan": "its Octopus tenant Tenants-9 is gone", "pinnedorphan": "its tenant is gone"}
    decisions = {d.feature: d for d in plan(stacks, now=NOW, default_ttl=TTL, orphans=orphans)}
    assert {name: d.action for name, d in decisions.items()} == {
        "pinned": KEEP, "extended": SKIP, "lapsed": DESTROY, "orphan": DESTROY, "pinnedorphan": KEEP, "young": SKIP,
    }
    assert decisions["lapsed"].reason.startswith("extended to 2026-03-01 06:00 UTC")
    assert decisions["orphan"].reason == "orphan: its Octopus tenant Tenants-9 is gone"
    assert "unkeep" in decisions["pinned"].reason
    older = {d.feature: d.action for d in plan(stacks, now=NOW, default_ttl=TTL, older_than=timedelta(0))}
    assert older["extended"] == SKIP, "--older-than replaces the TTL, not an extension someone asked for"


@pytest.mark.parametrize(
    ("keep", "features", "refused"),
    [
        (set(), ["a", "b"], "names no feature"),
        ({"x"}, ["a", "b", "c", "d"], "keeps none of the 4 feature stacks"),
        ({"x"}, ["a", "b", "c"], None),  # a few stacks and no live branch among them: plausible
        ({"a"}, ["a", "b", "c", "d", "e"], None),
    ],
)
def test_a_keep_list_fails_closed(keep: set[str], features: list[str], refused: Optional[str]) -> None:
    check = lambda **extra: check_keep_list(  # noqa: E731
        keep, given=True, feature_stacks=features, sources=("--keep-file live.txt",), **extra
    )
    if refused is None:
        check(allow_empty=False)
        return
    with pytest.raises(InputError) as caught:
        check(allow_empty=False)
    assert refused in str(caught.value) and "--keep-file live.txt" in str(caught.value)
    assert "--allow-empty-keep-list" in str(caught.value)
    check(allow_empty=True)
    check_keep_list(keep, given=False, feature_stacks=features, allow_empty=False)  # no list: expiry alone


def test_the_cap_takes_the_longest_expired_first_then_orphan_tenants_and_leaves_the_rest() -> None:
    decisions = [  # names in the opposite order of their expiry: the expiry decides, not the name
        Decision("a", DESTROY, "expired", NOW - timedelta(hours=1)),
        Decision("b", DESTROY, "expired", NOW - timedelta(hours=5)),
        Decision("c", KEEP, "kept"),
        Decision("ghost", DESTROY, "orphan", kind=TENANT, target_id="Tenants-7"),
        Decision("never", DESTROY, "never updated", None),
    ]
    capped = {d.feature: d for d in cap(decisions, 2)}
    assert {name: d.action for name, d in capped.items()} == {
        "a": LEFT, "b": DESTROY, "c": KEEP, "ghost": LEFT, "never": DESTROY,
    }
    assert capped["a"].reason == "expired; left for the next run (--max-destroy 2)"
    assert [d.action for d in cap(decisions, 0)].count(DESTROY) == 0
    assert cap(decisions, 10) == decisions
    with pytest.raises(InputError, match="^--max-destroy must not be negative$"):
        cap(decisions, -1)

    outcomes = run(cap(decisions, 2), lambda decision: None)
    assert [(o.feature, o.kind, o.action) for o in outcomes] == [
        ("a", STACK, "left"), ("b", STACK, "destroyed"), ("c", STACK, "kept"),
        ("ghost", TENANT, "left"), ("never", STACK, "destroyed"),
    ]


def test_an_orphan_stack_not_yet_expired_waits_behind_expired_ones_under_the_cap() -> None:
    stacks = [
        Info("early", NOW - timedelta(hours=1)),  # its tenant is gone, its ttl has days left
        Info("lapsed", NOW - timedelta(days=5)),
    ]
    decisions = plan(stacks, now=NOW, default_ttl=TTL, orphans={"early": "its Octopus tenant Tenants-9 is gone"})
    assert decisions[0].expires == NOW - timedelta(hours=1) + TTL

    assert {d.feature: d.action for d in cap(decisions, 1)} == {"early": LEFT, "lapsed": DESTROY}


def test_an_extension_overtaken_by_a_later_update_is_not_named_as_the_reason() -> None:
    stacks = [Info("updated", NOW - timedelta(days=4), tags={EXPIRES_TAG: "2026-02-20T00:00:00Z"})]

    [decision] = plan(stacks, now=NOW, default_ttl=TTL)

    assert decision.action == DESTROY
    assert decision.reason == "last updated 2026-02-25 12:00 UTC, past the default ttl 3d"


def test_orphan_tenants_come_sorted_by_name_each_with_its_reason() -> None:
    tenants = [{"Id": f"Tenants-{n}", "Name": name, "Description": phoenix_description(name)}
               for n, name in ((3, "zed0003"), (1, "amy0001"), (2, "max0002"))]

    found = orphan_tenants(tenants, stack_names=[])

    assert [d.feature for d in found] == ["amy0001", "max0002", "zed0003"]
    assert found[0].reason == ("orphan: Octopus tenant 'amy0001' (Tenants-1) was made by phoenix and has no stack: "
                               "delete it with its machines and override")


def test_orphan_tenants_destroyed_or_failed_are_reported_as_tenants_beside_a_stack_of_the_same_name() -> None:
    decisions = [
        Decision("ryan0001", DESTROY, "expired", NOW - timedelta(hours=1)),
        Decision("ryan0001", DESTROY, "orphan", kind=TENANT, target_id="Tenants-7"),
        Decision("anna0002", DESTROY, "orphan", kind=TENANT, target_id="Tenants-8"),
    ]

    def destroy(decision: Decision) -> None:
        if decision.target_id == "Tenants-8":
            raise RuntimeError("Octopus answered 500")

    outcomes = run(decisions, destroy)

    assert [(o.feature, o.kind, o.action) for o in outcomes] == [
        ("ryan0001", STACK, "destroyed"), ("ryan0001", TENANT, "destroyed"), ("anna0002", TENANT, "failed"),
    ]


def test_only_tenants_with_phoenix_mark_for_their_own_name_and_no_stack_are_orphans() -> None:
    tenants = [
        {"Id": "Tenants-1", "Name": "ryan0001", "Description": phoenix_description("ryan0001")},
        {"Id": "Tenants-2", "Name": "anna0002", "Description": phoenix_description("anna0002", "revision 3")},
        {"Id": "Tenants-3", "Name": "manual", "Description": "Made by hand"},
        {"Id": "Tenants-4", "Name": "copy0004", "Description": phoenix_description("ryan0001")},
        {"Id": "Tenants-5", "Name": "bob0005", "Description": phoenix_description("bob0005") + "ish"},
        {"Id": "Tenants-6", "Name": "carl0006"},
    ]
    assert [made_by_phoenix(t) for t in tenants] == [True, True, False, False, False, False]
    found = orphan_tenants(tenants, stack_names=["ryan0001"])
    assert [(d.feature, d.kind, d.target_id, d.action) for d in found] == [("anna0002", TENANT, "Tenants-2", DESTROY)]


def test_the_create_summary_says_when_the_feature_expires_and_how_to_extend_it() -> None:
    expiry = Expiry("ryan0001", NOW + TTL, False, "3d", "14d")
    markdown = render(Report(command="create", feature="ryan0001", result="succeeded", expires=expiry))
    assert (
        "| Expires | 2026-03-04 12:00 UTC (3d after its last update); `phoenix extend ryan0001 48h` moves it "
        "(at most 14d ahead), `phoenix keep ryan0001` pins it |"
    ) in markdown
    pinned = render(Report(command="create", feature="ryan0001", result="succeeded",
                           expires=Expiry("ryan0001", NOW + TTL, True, "3d", "14d")))
    assert "| Expires | never: pinned (`phoenix unkeep ryan0001` releases it) |" in pinned
    assert "Expires" not in render(Report(command="destroy", feature="ryan0001", result="destroyed"))
