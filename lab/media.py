"""Media files of a given duration (and video size), made with real ffmpeg and cached.

Files are silent audio at a very low sample rate and, for video, a black picture
with few frames, so a 3600 s file takes well under 3 s to make. The container
follows the file suffix:

    .wav   PCM u8, 1000 Hz       exact duration
    .flac  FLAC, 8000 Hz         exact duration
    .mkv   H.264 + FLAC          exact duration
    .mp4   H.264 + AAC 8 kb/s    exact duration for video, within 0.01 s for audio only
    .m4a   AAC 8 kb/s            within 0.01 s (AAC priming)
    .mp3   MP3 8 kb/s            up to 0.2 s longer (MP3 frame padding)

Use .wav, .flac or .mkv for inputs that sit right at a threshold.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

AUDIO_CODECS = {
    ".wav": ["-ar", "1000", "-c:a", "pcm_u8"],
    ".flac": ["-ar", "8000", "-c:a", "flac"],
    ".mkv": ["-ar", "8000", "-c:a", "flac"],
    ".mp4": ["-ar", "8000", "-c:a", "aac", "-b:a", "8k"],
    ".m4a": ["-ar", "8000", "-c:a", "aac", "-b:a", "8k"],
    ".mp3": ["-ar", "8000", "-c:a", "libmp3lame", "-b:a", "8k"],
}
VIDEO_SUFFIXES = (".mkv", ".mp4")
# Encoding time grows with frames x pixels. Measured on a 2-core VM: a 3600 s
# 3840x2160 .mp4 took 2.7 s, a 3600 s .wav 0.5 s.
MAX_VIDEO_FRAMES = 120
DEFAULT_CACHE = Path(os.environ.get("FLEETLAB_MEDIA_CACHE", Path.home() / ".cache" / "fleetroute-lab" / "media"))


def make_media(
    path: Path | str,
    seconds: float,
    *,
    video: bool = False,
    width: int = 320,
    height: int = 240,
    cache_dir: Path | str | None = None,
) -> Path:
    """Write a media file of ``seconds`` duration to ``path`` and return ``path``.

    ``path``'s suffix picks the container (see the module docstring). ``video`` adds
    a ``width`` x ``height`` H.264 stream. Files are cached in ``cache_dir`` (default
    $FLEETLAB_MEDIA_CACHE or ~/.cache/fleetroute-lab/media) by suffix and parameters,
    and each call copies the cached file to ``path``, overwriting it. Raises
    ``ValueError`` on an unsupported suffix or size and
    ``subprocess.CalledProcessError`` when ffmpeg fails.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    _check_request(suffix, seconds, video, width, height)
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    key = f"{suffix}:{seconds!r}:{video}:{width}x{height}"
    cached = cache / (hashlib.sha256(key.encode()).hexdigest()[:20] + suffix)
    if not cached.exists():
        cache.mkdir(parents=True, exist_ok=True)
        _encode(cached, seconds, video, width, height)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, path)
    return path


def _check_request(suffix: str, seconds: float, video: bool, width: int, height: int) -> None:
    if suffix not in AUDIO_CODECS:
        raise ValueError(f"unsupported media suffix {suffix!r}: use one of {', '.join(AUDIO_CODECS)}")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    if video:
        if suffix not in VIDEO_SUFFIXES:
            raise ValueError(f"video needs one of {', '.join(VIDEO_SUFFIXES)}, not {suffix!r}")
        # libx264 with 4:2:0 chroma rejects odd sizes.
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"video size must be positive and even, not {width}x{height}")


def _encode(target: Path, seconds: float, video: bool, width: int, height: int) -> None:
    """Encode into a temporary file beside ``target`` and rename it, so concurrent callers never see half a file."""
    duration = Fraction(str(seconds))
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    if video:
        # Spread N frames evenly over the duration so the video stream ends exactly at it.
        frames = min(MAX_VIDEO_FRAMES, max(1, math.ceil(duration)))
        rate = Fraction(frames) / duration
        command += ["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={rate.numerator}/{rate.denominator}"]
    command += ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(float(duration))]
    if video:
        command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    command += AUDIO_CODECS[target.suffix]
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=target.suffix, delete=False) as temporary:
        temporary_path = Path(temporary.name)
    try:
        subprocess.run([*command, str(temporary_path)], check=True, capture_output=True, stdin=subprocess.DEVNULL)
        temporary_path.replace(target)
    finally:
        temporary_path.unlink(missing_ok=True)
