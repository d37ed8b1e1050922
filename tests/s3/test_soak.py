"""A short soak on the S3 backend behind the fault proxy: the state still matches Octopus."""

from __future__ import annotations

import re

import pytest

from bench.soak import run

pytestmark = pytest.mark.engine


def test_a_short_soak_on_s3_under_faults_ends_with_octopus_matching_the_state(pulumi_bin) -> None:
    report = run(lifecycles=4, workers=2, seed=5, s3=True)
    assert report.ok, report.text
    assert "Reliability soak on the S3 backend" in report.text and "4 / 4" in report.text
    assert "PASS: Octopus holds exactly what Pulumi's state records" in report.text
    injected = re.search(r"faults injected on S3\s+(.*)", report.text).group(1)
    assert re.search(r"\d+ 503", injected), f"the proxy injected no 503s: {injected}"
