"""chainscan.io.video on tiny generated clips: containers/codecs, rotation metadata, variable frame rate,
frame-rate capping and streaming (constant memory)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from chainscan.errors import VideoReadError
from chainscan.io.video import Frame, VideoReader, probe
from helpers_video import (
    MARKER,
    bright_corner,
    clip_dir,  # noqa: F401  (fixture)
    ffmpeg,
    ffmpeg_first_frame,
    h264_clip,  # noqa: F401  (fixture)
    pyav_has_encoder,
    write_clip,
    write_clip_pyav,
)

W, H = 160, 120


def read_all(path, max_fps=None) -> tuple[list[Frame], object]:
    with VideoReader(path) as v:
        frames = list(v.frames(max_fps=max_fps))
        return frames, v.meta


# --------------------------------------------------------------------------------------------------
# containers and codecs

CONTAINERS = {
    # name: (file name, n_frames, fps, writer, kwargs)
    "mp4-h264": ("clip.mp4", 60, 30, write_clip, {"codec": "libx264"}),
    "m4v-h264": ("clip.m4v", 30, 30, write_clip, {"codec": "libx264", "extra_out": ("-f", "mp4")}),
    "mov-h264": ("clip.mov", 45, 25, write_clip, {"codec": "libx264"}),
    "avi-mjpeg": ("clip.avi", 30, 15, write_clip, {"codec": "mjpeg"}),
    "mkv-h264": ("clip.mkv", 48, 24, write_clip, {"codec": "libx264"}),
    "webm-vp8": ("vp8.webm", 40, 20, write_clip_pyav, {"codec": "libvpx"}),
    "webm-vp9": ("vp9.webm", 40, 20, write_clip_pyav, {"codec": "libvpx-vp9"}),
}


@pytest.mark.parametrize("case", list(CONTAINERS))
def test_container_opens_with_right_count_size_fps(case, tmp_path):
    name, n, fps, writer, kw = CONTAINERS[case]
    if writer is write_clip_pyav and not pyav_has_encoder(kw["codec"]):
        pytest.skip(f"PyAV has no {kw['codec']} encoder")
    path = writer(tmp_path / name, n_frames=n, fps=fps, width=W, height=H, **kw)

    meta = probe(path)
    assert (meta.width, meta.height) == (W, H)
    assert meta.fps == pytest.approx(fps, rel=1e-3)
    assert meta.rotation_deg == 0
    assert meta.source == name

    frames, meta2 = read_all(path)
    assert meta2 == meta
    assert len(frames) == n
    assert [f.index for f in frames] == list(range(n))
    for f in (frames[0], frames[-1]):
        assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
    rgb = frames[0].rgb
    # upright, RGB order: white marker top-left; background blue (~110) well above red/green (< 64)
    assert bright_corner(rgb) == "tl"
    bg = rgb[MARKER + 5:, MARKER + 5:].reshape(-1, 3).mean(axis=0)
    assert bg[2] > 90 and bg[0] < 60 and bg[1] < 60, bg
    # constant frame rate: container timestamps are k / fps, starting at 0
    t = np.array([f.time_s for f in frames])
    np.testing.assert_allclose(t, np.arange(n) / fps, atol=2e-3)


def test_probe_and_closed_reader(h264_clip):  # noqa: F811
    with VideoReader(h264_clip) as v:
        assert v.meta.n_frames_declared == 60
        assert v.meta.duration_s == pytest.approx(2.0)
    with pytest.raises(VideoReadError, match="closed"):
        next(v.frames())


# --------------------------------------------------------------------------------------------------
# phone rotation metadata


@pytest.fixture(scope="module")
def landscape_clip(clip_dir):  # noqa: F811
    """320x240 landscape H.264, white marker in the top-left corner of the stored picture."""
    return write_clip(clip_dir / "landscape.mp4", n_frames=15, fps=30, width=320, height=240)


# ffmpeg's -display_rotation is counter-clockwise: +90 turns the picture a quarter turn left, so the
# stored top-left corner ends up bottom-left (and is shown 240 wide x 320 high).
ROTATIONS = {90: ("bl", (240, 320)), -90: ("tr", (240, 320)), 180: ("br", (320, 240))}


@pytest.mark.parametrize("rotation", list(ROTATIONS))
def test_display_rotation_is_applied(rotation, landscape_clip, tmp_path):
    corner, (w, h) = ROTATIONS[rotation]
    rotated = tmp_path / f"rot{rotation}.mp4"
    ffmpeg("-display_rotation:v:0", str(rotation), "-i", str(landscape_clip), "-c", "copy", str(rotated))

    frames, meta = read_all(rotated)
    assert meta.rotation_deg != 0
    # (OpenCV reports the clockwise angle: display rotation +90 (CCW) is rotation_deg 270)
    assert meta.rotation_deg == (-rotation) % 360
    assert (meta.width, meta.height) == (w, h)
    assert len(frames) == 15
    assert all(f.rgb.shape == (h, w, 3) for f in frames)
    assert bright_corner(frames[0].rgb) == corner
    # and exactly what ffmpeg itself shows for the rotated file (independent of our convention reading)
    shown = ffmpeg_first_frame(rotated, w, h)
    assert bright_corner(shown) == corner
    assert np.abs(shown.astype(int) - frames[0].rgb.astype(int)).mean() < 4


# --------------------------------------------------------------------------------------------------
# variable frame rate


@pytest.fixture(scope="module")
def vfr_clip(clip_dir):  # noqa: F811
    """60 frames at 30 fps, with a 0.5 s pause in the timestamps between frames 29 and 30."""
    return write_clip(clip_dir / "vfr.mp4", n_frames=60, fps=30,
                      extra_out=("-vf", r"setpts='(N/30+gte(N\,30)*0.5)/TB'", "-fps_mode", "vfr"))


def test_variable_frame_rate_timestamps_come_from_container(vfr_clip):
    frames, meta = read_all(vfr_clip)
    assert len(frames) == 60
    t = np.array([f.time_s for f in frames])
    dt = np.diff(t)
    assert (dt > 0).all()
    assert dt[29] == pytest.approx(1 / 30 + 0.5, abs=2e-3)
    np.testing.assert_allclose(np.delete(dt, 29), 1 / 30, atol=2e-3)
    assert t[-1] == pytest.approx(59 / 30 + 0.5, abs=2e-3)
    # not index / nominal fps (the container's average rate is not 30 here)
    assert not np.allclose(t, np.arange(60) / meta.fps, atol=0.01)


def test_max_fps_on_variable_frame_rate_keeps_frame_after_gap(vfr_clip):
    frames, _ = read_all(vfr_clip, max_fps=15)
    idx = [f.index for f in frames]
    assert 30 in idx  # the first frame after the pause is due at once
    assert (np.diff([f.time_s for f in frames]) >= 1 / 15 - 2e-3).all()


# --------------------------------------------------------------------------------------------------
# frame-rate capping


@pytest.fixture(scope="module")
def clip60(clip_dir):  # noqa: F811
    return write_clip(clip_dir / "c60.mp4", n_frames=120, fps=60)


def test_max_fps_halves_30fps(h264_clip):  # noqa: F811
    frames, _ = read_all(h264_clip, max_fps=15)
    assert 29 <= len(frames) <= 31
    t = np.array([f.time_s for f in frames])
    assert (np.diff(t) >= 1 / 15 - 2e-3).all()
    assert [f.index for f in frames] == list(range(0, 60, 2))
    # kept frames carry their source index and own timestamp and pixels
    assert all(f.time_s == pytest.approx(f.index / 30, abs=2e-3) for f in frames)
    assert not np.array_equal(frames[0].rgb, frames[1].rgb)


def test_max_fps_30_on_60fps_keeps_every_other(clip60):
    frames, meta = read_all(clip60, max_fps=30)
    assert meta.fps == pytest.approx(60)
    assert [f.index for f in frames] == list(range(0, 120, 2))
    assert (np.diff([f.time_s for f in frames]) >= 1 / 30 - 2e-3).all()


@pytest.mark.parametrize("max_fps", [30, 60, 1000])
def test_max_fps_at_or_above_clip_rate_keeps_all(h264_clip, max_fps):  # noqa: F811
    frames, _ = read_all(h264_clip, max_fps=max_fps)
    assert [f.index for f in frames] == list(range(60))


def test_max_fps_not_a_divisor_keeps_average_rate(clip60):
    """60 → 25 fps: frames cannot be evenly spaced; the kept rate is 25/s on average, never above."""
    frames, _ = read_all(clip60, max_fps=25)
    t = np.array([f.time_s for f in frames])
    assert 49 <= len(frames) <= 51
    assert (np.diff(t) >= 1 / 60 - 2e-3).all()
    for start in np.arange(0, 1.0, 1 / 60):  # any 1-second window holds at most 25 (+1 boundary) frames
        assert ((t >= start) & (t < start + 1.0)).sum() <= 26


# --------------------------------------------------------------------------------------------------
# streaming: memory does not grow with the length of the video


def test_frames_are_streamed_not_accumulated(clip_dir):  # noqa: F811
    n = 600  # 20 s at 30 fps
    path = write_clip(clip_dir / "long.mp4", n_frames=n, fps=30, width=W, height=H)
    frame_bytes = W * H * 3

    def peak_while_iterating(keep: bool) -> tuple[int, float]:
        kept = []
        count = 0
        with VideoReader(path) as v:
            it = v.frames()
            next(it)  # the first frame is decoded on open; start measuring in steady state
            tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                for frame in it:
                    count += 1
                    if keep:
                        kept.append(frame)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        return count, peak / frame_bytes

    count, peak_frames = peak_while_iterating(keep=False)
    assert count == n - 1
    assert peak_frames < 10, f"peak {peak_frames:.1f} frames' worth of memory while streaming"
    # control: tracemalloc does see the frames' pixels when they are kept
    _, kept_peak = peak_while_iterating(keep=True)
    assert kept_peak > 0.9 * (n - 1)
