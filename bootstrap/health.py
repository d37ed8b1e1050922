"""Which HTTP status codes mean healthy: one rule for the load balancer and the instance's own wait.

The syntax is the Application Load Balancer matcher's: one code (`200`),
codes separated by commas (`200,204`) or one range (`200-299`, as Octopus
writes them), every code from 200 to 499 (ELB API reference, `Matcher`). The
bootstrap waits for exactly the codes the target group accepts: an app that
answers 204 while the load balancer wants 200 would pass its launch hook and
then be replaced by the load balancer, again and again.
"""

from __future__ import annotations

import re
from typing import Union

#: What an Application Load Balancer's HTTP matcher allows.
MATCHER_CODES = (200, 499)
DEFAULT = "200"

_CODE = re.compile(r"^[1-9]\d{2}$")


def status_code_ranges(spec: Union[str, int]) -> tuple[tuple[int, int], ...]:
    """`"200,204"` -> ((200, 200), (204, 204)); `"200-299"` -> ((200, 299),). ValueError says what is wrong."""
    text = str(spec).strip() if isinstance(spec, (str, int)) and not isinstance(spec, bool) else ""
    if not text:
        raise ValueError(f"{spec!r} is not a status code, a list like 200,204 or a range like 200-299")
    items = [item.strip() for item in text.split(",")]
    ranges = []
    for item in items:
        low, dash, high = item.partition("-")
        if not _CODE.match(low) or (dash and not _CODE.match(high)):
            raise ValueError(f"{text!r} is not a status code, a list like 200,204 or a range like 200-299")
        first, last = int(low), int(high) if dash else int(low)
        for code in (first, last):
            if not MATCHER_CODES[0] <= code <= MATCHER_CODES[1]:
                raise ValueError(f"{text!r}: {code} is outside {MATCHER_CODES[0]}-{MATCHER_CODES[1]}, "
                                 "the codes a load balancer health check can accept")
        if first > last:
            raise ValueError(f"{text!r}: the range {item} runs backwards")
        ranges.append((first, last))
    if len(ranges) > 1 and any(first != last for first, last in ranges):
        raise ValueError(f"{text!r}: give codes separated by commas or one range, not both (the load balancer's rule)")
    return tuple(ranges)


def normalized(spec: Union[str, int]) -> str:
    """The matcher text for `spec`, spaces removed: what the target group and the bootstrap both get."""
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in status_code_ranges(spec))


def accepts(spec: Union[str, int], code: int) -> bool:
    return any(first <= code <= last for first, last in status_code_ranges(spec))
