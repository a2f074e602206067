"""Choose verify's sample inputs: the inventory's paths, or inputs made on the host.

An input is described to ``verify.sh`` as one word: ``given:PATH`` for a file that
exists on the host, ``duration:SECONDS``, ``size:BYTES`` or ``pixels:WIDTHxHEIGHT``
for one the script makes, and ``skip:REASON`` when there is none.
"""

from __future__ import annotations

import math

from fleetroute.render import format_number
from fleetroute.settings import HostSettings

SMALL, LARGE = "small", "large"


def sample_specs(settings: HostSettings) -> tuple[str, str]:
    """Return the specs of the small (GPU) and large (CPU) sample inputs for one host.

    A generated small input sits just below ``threshold_value`` and a large one just
    above it: 1 s shorter or longer for ``duration``, 1 byte for ``size``, and the
    nearest near-square image sizes for ``pixels``.
    """
    small = settings.verify_small_input
    large = settings.verify_large_input
    return (
        f"given:{small}" if small else _generated_spec(settings, SMALL),
        f"given:{large}" if large else _generated_spec(settings, LARGE),
    )


def _generated_spec(settings: HostSettings, which: str) -> str:
    threshold = settings.threshold_value
    if settings.custom_probe:
        return f"skip:a custom probe needs verify_{which}_input, because verify cannot make an input for it"
    if settings.probe == "duration":
        return "duration:" + format_number(_seconds(threshold, which))
    if settings.probe == "size":
        size = math.ceil(threshold) - 1 if which == SMALL else math.floor(threshold) + 1
        return f"size:{size}"
    pixels = image_size(threshold, which)
    if pixels is None:
        return f"skip:threshold_value {format_number(threshold)} leaves no image size below it; set verify_small_input"
    return f"pixels:{pixels[0]}x{pixels[1]}"


def _seconds(threshold: int | float, which: str) -> int | float:
    if which == LARGE:
        return threshold + 1
    # A threshold of 2 s or less has no room for "1 s below"; half of it is still below.
    return threshold - 1 if threshold > 2 else threshold / 2


def image_size(threshold: int | float, which: str) -> tuple[int, int] | None:
    """Return (width, height) of a near-square image just below or at/above ``threshold`` pixels.

    Below means width x height < threshold, at or above means >= threshold. Returns
    None when no image is small enough (a threshold of 1 pixel or less).
    """
    if which == SMALL:
        limit = math.ceil(threshold) - 1
        if limit < 1:
            return None
        width = math.isqrt(limit)
        return width, limit // width
    target = math.ceil(threshold)
    width = math.isqrt(target - 1) + 1 if target > 1 else 1
    return width, -(-target // width)
