"""Make tiny test clips: ffmpeg (the binary bundled with imageio-ffmpeg) for most containers, PyAV for webm.

Every frame is a dark bluish background that shifts with the frame number, with a white square in its
top-left corner (``MARKER`` px), so that orientation and channel order can be checked after decoding.
"""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

MARKER = 40  # side of the bright top-left square, px


def ffmpeg_exe() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test with its stderr if it fails."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({' '.join(cmd)}):\n{proc.stderr}")


def pattern_frame(i: int, width: int, height: int, marker: bool = True) -> np.ndarray:
    """RGB uint8 frame ``i``: bluish gradient that shifts with i, white square in the top-left corner."""
    x = np.arange(width, dtype=np.int32)[None, :]
    y = np.arange(height, dtype=np.int32)[:, None]
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = ((x + 2 * i) % 64).astype(np.uint8)
    frame[..., 1] = ((y + i) % 64).astype(np.uint8)
    frame[..., 2] = 110  # blue clearly above red/green (< 64): tells RGB from BGR
    if marker:
        frame[:MARKER, :MARKER] = 255
    return frame


def write_clip(path: Path, *, n_frames: int, fps: float = 30, width: int = 160, height: int = 120,
               codec: str = "libx264", extra_in: tuple[str, ...] = (), extra_out: tuple[str, ...] = (),
               noise: bool = False) -> Path:
    """Encode ``n_frames`` pattern (or noise) frames with ffmpeg, piped as raw RGB."""
    rng = np.random.default_rng(0)
    if noise:
        frames = (rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n_frames))
    else:
        frames = (pattern_frame(i, width, height) for i in range(n_frames))
    data = b"".join(f.tobytes() for f in frames)
    codec_args = ["-c:v", codec]
    if codec == "libx264":
        codec_args += ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    elif codec == "mjpeg":
        codec_args += ["-q:v", "3", "-pix_fmt", "yuvj420p"]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), *extra_in,
           "-i", "pipe:0", *codec_args, *extra_out, str(path)]
    proc = subprocess.run(cmd, input=data, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({' '.join(cmd)}):\n{proc.stderr.decode(errors='replace')}")
    return path


def write_clip_pyav(path: Path, *, n_frames: int, fps: int = 30, width: int = 160, height: int = 120,
                    codec: str = "libvpx", options: dict | None = None) -> Path:
    """Encode with PyAV (webm: VP8 ``libvpx``, VP9 ``libvpx-vp9``, AV1 ``libsvtav1`` or ``libaom-av1``)."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if options:
            stream.options = options
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def pyav_has_encoder(name: str) -> bool:
    av = pytest.importorskip("av")
    return name in av.codecs_available


# ---------------------------------------------------------------------------------------------------
# pytest fixtures (import them into a test module to use them: `from helpers_video import h264_clip`)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def h264_clip(clip_dir) -> Path:
    """2 s, 30 fps, 160x120 H.264 mp4 (60 frames)."""
    return write_clip(clip_dir / "ok.mp4", n_frames=60, fps=30)


def copy_as(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def ffmpeg_first_frame(path: Path, width: int, height: int) -> np.ndarray:
    """First frame as ffmpeg itself shows it (autorotation on, the default), RGB uint8 (height, width, 3)."""
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-frames:v", "1",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert len(proc.stdout) == width * height * 3, "ffmpeg's frame has another size"
    return np.frombuffer(proc.stdout, np.uint8).reshape(height, width, 3)


def bright_corner(rgb: np.ndarray, size: int = MARKER // 2) -> str:
    """Which corner ('tl', 'tr', 'bl', 'br') holds the white marker square."""
    corners = {"tl": rgb[:size, :size], "tr": rgb[:size, -size:],
               "bl": rgb[-size:, :size], "br": rgb[-size:, -size:]}
    means = {k: float(v.mean()) for k, v in corners.items()}
    best = max(means, key=means.get)
    assert means[best] > 200 and sorted(means.values())[-2] < 150, f"no single white corner: {means}"
    return best
