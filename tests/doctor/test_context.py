"""The contexts doctor reads: `doctor` and `create` assemble the stack config with the one builder."""

from __future__ import annotations

import pytest

from automation import config as stack_config
from automation import doctor
from automation.feature import parse_feature
from tests.doctor.conftest import FEATURE, VERSION, check_named


def test_doctor_reads_exactly_the_config_create_writes(make_session) -> None:
    session = make_session("phoenix:fleet.maxSize=3", registration_key="API-REGISTERONLY000000000000001")
    written = session.stack_config(parse_feature(FEATURE, VERSION), VERSION)
    for_create = doctor.context_for_stack(session, written, VERSION)
    for_doctor = doctor.context_for_doctor(session, FEATURE, VERSION)
    assert for_doctor == for_create
    assert for_doctor.config["phoenix:fleet"]["maxSize"] == 3
    assert for_doctor.sources["phoenix:fleet.maxSize"] == "--set: phoenix:fleet.maxSize"
    assert for_doctor.config["octopus:registrationApiKey"] == "API-REGISTERONLY000000000000001"


def test_without_an_api_key_doctor_has_none_where_create_stops(make_session) -> None:
    session = make_session(api_key=None)
    with pytest.raises(stack_config.ConfigError, match="OCTOPUS_API_KEY"):
        session.stack_config(parse_feature(FEATURE, VERSION), VERSION)
    ctx = doctor.context_for_doctor(session, FEATURE, VERSION)
    assert ctx.config["octopus:apiKey"] is None
    assert ctx.sources["octopus:apiKey"] == "environment: OCTOPUS_API_KEY"


def test_a_bad_value_is_a_finding_for_doctor_and_an_error_for_create(make_session) -> None:
    session = make_session("phoenix:network.nat=double")
    with pytest.raises(stack_config.ConfigError, match="phoenix:network.nat"):
        session.stack_config(parse_feature(FEATURE, VERSION), VERSION)
    ctx = doctor.context_for_doctor(session, FEATURE, VERSION)
    assert ctx.config["phoenix:network"]["nat"] == "double"
    assert check_named(doctor.run_checks(ctx, only=["settings"]), "settings").status == "fail"


def test_doctor_without_a_feature_leaves_feature_and_version_out(make_session) -> None:
    ctx = doctor.context_for_doctor(make_session(), None, None)
    assert (ctx.feature, ctx.package_version) == (None, None)
    assert "phoenix:feature" not in ctx.config and "phoenix:packageVersion" not in ctx.config
    assert check_named(doctor.run_checks(ctx, only=["settings"]), "settings").status == "ok"


def test_a_version_alone_names_its_feature(make_session) -> None:
    ctx = doctor.context_for_doctor(make_session(), None, VERSION)
    assert (ctx.feature, ctx.package_version) == (FEATURE, VERSION)
    assert ctx.config["phoenix:packageVersion"] == VERSION


def test_collect_validates_nothing_and_build_validates_what_it_collected(make_session) -> None:
    session = make_session("phoenix:network.nat=double", api_key=None)
    feature = parse_feature(FEATURE, VERSION)
    collected = stack_config.collect(
        session.sources, feature, package_version=VERSION, environ=session.environ, require_api_key=False
    )
    assert collected.settings is None
    assert collected.values["phoenix:feature"] == FEATURE
    with pytest.raises(stack_config.ConfigError, match="OCTOPUS_API_KEY"):
        stack_config.collect(session.sources, feature, package_version=VERSION, environ=session.environ)
