"""verify's sample inputs: the inventory's paths, or specs of inputs just below and above the threshold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fleetroute.operations.verify.inputs import LARGE, SMALL, image_size, sample_specs

from .helpers import whisper_settings


def test_duration_one_second_around_threshold():
    assert sample_specs(whisper_settings()) == ("duration:3599", "duration:3601")


def test_short_duration_threshold_halved():
    assert sample_specs(whisper_settings(threshold_value=1.5)) == ("duration:0.75", "duration:2.5")


def test_fractional_duration_threshold():
    assert sample_specs(whisper_settings(threshold_value=90.5)) == ("duration:89.5", "duration:91.5")


def test_size_one_byte_around_threshold():
    assert sample_specs(whisper_settings(probe="size", threshold_value=1000)) == ("size:999", "size:1001")


def test_fractional_size_threshold():
    assert sample_specs(whisper_settings(probe="size", threshold_value=10.5)) == ("size:10", "size:11")


def test_pixels_near_square():
    assert sample_specs(whisper_settings(probe="pixels", threshold_value=2073600)) == (
        "pixels:1439x1441",
        "pixels:1440x1440",
    )


def test_pixels_threshold_too_low_for_small_image():
    small, large = sample_specs(whisper_settings(probe="pixels", threshold_value=1))
    assert small.startswith("skip:threshold_value 1 leaves no image size below it")
    assert large == "pixels:1x1"


def test_custom_probe_needs_given_inputs():
    small, large = sample_specs(whisper_settings(probe="wc -c <"))
    assert small == "skip:a custom probe needs verify_small_input, because verify cannot make an input for it"
    assert large.startswith("skip:a custom probe needs verify_large_input")


def test_given_inputs_win():
    settings = whisper_settings(verify_small_input="/srv/a.flac", verify_large_input="/srv/b flac")
    assert sample_specs(settings) == ("given:/srv/a.flac", "given:/srv/b flac")


def test_one_given_input_other_generated():
    settings = whisper_settings(verify_large_input="/srv/long.flac")
    assert sample_specs(settings) == ("duration:3599", "given:/srv/long.flac")


@given(st.integers(min_value=2, max_value=10**9) | st.floats(min_value=1.01, max_value=1e9))
def test_image_sizes_straddle_threshold(threshold):
    small_width, small_height = image_size(threshold, SMALL)
    large_width, large_height = image_size(threshold, LARGE)

    assert small_width * small_height < threshold
    assert small_width * small_height > threshold - 1 - small_width
    assert large_width * large_height >= threshold
    assert large_width * large_height < threshold + large_width
    assert abs(large_width - large_height) <= 1
