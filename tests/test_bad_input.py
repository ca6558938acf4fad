"""Bad input never crashes: a one-line, actionable message, a non-zero exit code, no traceback, no output.

Covers the library (VideoReader raises VideoReadError, never a cv2 or generic error), the Typer app
through CliRunner, and the real ``python -m chainscan`` process for a few cases.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from chainscan.cli import app
from chainscan.errors import VideoReadError
from chainscan.io.video import VideoReader, probe
from helpers_video import (
    copy_as,
    ffmpeg,
    pattern_frame,
    pyav_has_encoder,
    write_clip,
    write_clip_pyav,
)

# --------------------------------------------------------------------------------------------------
# bad videos, each with the pattern its message must match (case-insensitive)


def _junk(d: Path) -> Path:
    p = d / "junk.mp4"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return p


def _empty(d: Path) -> Path:
    p = d / "empty.mp4"
    p.write_bytes(b"")
    return p


def _truncated_faststart(d: Path) -> Path:
    full = write_clip(d / "full_faststart.mp4", n_frames=90, fps=30, extra_out=("-movflags", "+faststart"))
    data = full.read_bytes()
    p = d / "truncated_faststart.mp4"
    p.write_bytes(data[: int(0.4 * len(data))])
    return p


def _truncated_plain(d: Path) -> Path:  # index (moov) at the end: it is cut off
    full = write_clip(d / "full_plain.mp4", n_frames=90, fps=30)
    data = full.read_bytes()
    p = d / "truncated_plain.mp4"
    p.write_bytes(data[: len(data) // 2])
    return p


def _png(d: Path) -> Path:
    p = d / "still.png"
    assert cv2.imwrite(str(p), pattern_frame(0, 160, 120))
    return p


def _png_as_mp4(d: Path) -> Path:
    return copy_as(_png(d), d / "still_png.mp4")


def _zero_frames_cv2(d: Path) -> Path:
    p = d / "zero_cv2.mp4"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 30, (160, 120))
    w.release()
    assert p.is_file() and p.stat().st_size > 0
    return p


def _zero_frames_ffmpeg(d: Path) -> Path:
    return write_clip(d / "zero_ffmpeg.mp4", n_frames=10, fps=30, extra_out=("-frames:v", "0"))


def _audio_only(d: Path) -> Path:
    p = d / "audio_only.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(p))
    return p


def _missing(d: Path) -> Path:
    return d / "no_such_clip.mp4"


def _folder(d: Path) -> Path:
    p = d / "a_folder.mp4"
    p.mkdir(exist_ok=True)
    return p


def _av1_webm(d: Path) -> Path:
    for enc in ("libsvtav1", "libaom-av1"):
        if pyav_has_encoder(enc):
            return write_clip_pyav(d / "av1.webm", n_frames=30, fps=30, codec=enc)
    pytest.skip("PyAV has no AV1 encoder")


BAD_VIDEOS = {
    "junk": (_junk, r"could not be opened as a video"),
    "empty": (_empty, r"empty \(0 bytes\)"),
    "truncated_faststart": (_truncated_faststart, r"stops after \d+ of its 90 frames.*truncated"),
    "truncated_plain": (_truncated_plain, r"could not be opened as a video \(damaged, truncated"),
    "png": (_png, r"not a supported video \(\.png\)"),
    "png_as_mp4": (_png_as_mp4, r"is a PNG image, not a video"),
    "zero_frames_cv2": (_zero_frames_cv2, r"could not be opened as a video|no readable video frames"),
    "zero_frames_ffmpeg": (_zero_frames_ffmpeg, r"could not be opened as a video|no readable video frames"),
    "audio_only": (_audio_only, r"could not be opened as a video|no readable video frames"),
    "missing": (_missing, r"video not found"),
    "folder": (_folder, r"is a folder, not a video file"),
    "av1_webm": (_av1_webm, r"cannot decode \(codec (av01|av1)\)"),
}

_built: dict[str, Path] = {}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad")


def bad_video(case: str, bad_dir: Path) -> Path:
    if case not in _built:
        sub = bad_dir / case
        sub.mkdir(exist_ok=True)
        _built[case] = BAD_VIDEOS[case][0](sub)
    return _built[case]


def assert_one_line(message: str, pattern: str) -> None:
    assert "\n" not in message.strip(), f"message is not one line: {message!r}"
    assert re.search(pattern, message, re.IGNORECASE), f"{message!r} does not match {pattern!r}"
    assert "Traceback" not in message


# --------------------------------------------------------------------------------------------------
# library: VideoReader raises VideoReadError (not cv2.error, not a generic exception)


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_reader_raises_video_read_error(case, bad_dir):
    path = bad_video(case, bad_dir)
    pattern = BAD_VIDEOS[case][1]
    with pytest.raises(VideoReadError) as err:
        with VideoReader(path) as v:
            for _ in v.frames():
                pass
    assert type(err.value) is VideoReadError
    assert_one_line(str(err.value), pattern)
    if case not in ("missing", "folder"):
        assert path.name in str(err.value)  # names the file


@pytest.mark.parametrize("case", [c for c in BAD_VIDEOS if c != "truncated_faststart"])
def test_probe_raises_video_read_error(case, bad_dir):
    # the truncated file with its index up front opens fine; damage only shows when reading on
    with pytest.raises(VideoReadError):
        probe(bad_video(case, bad_dir))


# --------------------------------------------------------------------------------------------------
# CLI through CliRunner


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def assert_clean_failure(result, pattern: str, *, one_line: bool = True) -> None:
    """Non-zero exit, no escaped exception or traceback, message on stderr matching ``pattern``."""
    # an exception escaping the command also gives exit code 1: it must be a deliberate exit
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    if one_line:
        assert result.exit_code == 1
        assert result.stderr.startswith("chainscan: ")
        assert_one_line(result.stderr, pattern)
    else:
        assert re.search(pattern, flat(result.stderr), re.IGNORECASE), result.stderr


def flat(text: str) -> str:
    """A usage error's text with rich's box drawing and line wrapping removed."""
    return re.sub(r"[\s\u2500-\u257f]+", " ", text)


def assert_no_output(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), f"files were written: {list(out.iterdir())}"
    # and no half-written temporary folder beside it
    assert not list(out.parent.glob(".chainscan-*"))


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_cli_screen_bad_video(case, bad_dir, tmp_path):
    path = bad_video(case, bad_dir)
    out = tmp_path / "results"
    result = invoke("screen", str(path), "--out", str(out))
    assert_clean_failure(result, BAD_VIDEOS[case][1])
    assert_no_output(out)


@pytest.mark.model
def test_cli_screen_video_with_nobody_in_it(tmp_path):
    """Runs the real MediaPipe model on 2 s of a moving test pattern and of noise."""
    for name, noise in (("pattern.mp4", False), ("noise.mp4", True)):
        clip = write_clip(tmp_path / name, n_frames=30, fps=15, width=320, height=240, noise=noise)
        out = tmp_path / f"results_{name}"
        result = invoke("screen", str(clip), "--out", str(out), "--max-fps", "15")
        assert_clean_failure(result, rf"nobody was found in {name}; film the whole body")
        assert_no_output(out)


# --------------------------------------------------------------------------------------------------
# wrong arguments


@pytest.fixture(scope="module")
def good_clip(bad_dir) -> Path:
    return write_clip(bad_dir / "good.mp4", n_frames=30, fps=30)


@pytest.fixture(scope="module")
def configs(bad_dir) -> dict[str, Path]:
    d = bad_dir / "configs"
    d.mkdir()
    (d / "invalid.toml").write_text("[thresholds]\nfppa_sls_mild = = 12\n")
    (d / "unknown_section.toml").write_text("[nonsense]\nx = 1\n")
    (d / "wrong_type.toml").write_text('[thresholds]\nfppa_sls_mild = "twelve"\n')
    (d / "binary.toml").write_bytes(b"\xff\xfe\x00\x81 not text")
    return {p.stem: p for p in d.iterdir()} | {"missing": d / "missing.toml", "folder": d}


# (arguments after the video, message pattern, ChainscanError one-liner?)
BAD_ARGS = {
    "test_nonsense": (["--test", "nonsense"], r"--test.*'nonsense' is not one of.*double_leg_squat", False),
    "side_up": (["--side", "up"], r"--side.*'up' is not one of.*left", False),
    "max_fps_negative": (["--max-fps", "-5"], r"--max-fps.*greater than or equal to 0", False),
    "workers_negative": (["--workers", "-2"], r"--workers.*greater than or equal to 0", False),
    "max_fps_text": (["--max-fps", "fast"], r"--max-fps.*valid number", False),
    "min_visibility_above_1": (["--min-visibility", "2"], r"--min-visibility", False),
    "threshold_no_equals": (
        ["--threshold", "notanumber"], r"--threshold expects NAME=VALUE.*'notanumber'", True),
    "threshold_not_number": (
        ["--threshold", "fppa_sls_mild=abc"], r"fppa_sls_mild: 'abc' is not a number", True),
    "threshold_unknown": (
        ["--threshold", "unknown_name=3"], r"unknown threshold 'unknown_name'; known: .*fppa_sls_mild", True),
    "config_missing": (["--config", "{missing}"], r"config file not found: .*missing\.toml", True),
    "config_invalid_toml": (
        ["--config", "{invalid}"], r"invalid\.toml is not valid TOML .*fix the syntax", True),
    "config_binary": (["--config", "{binary}"], r"binary\.toml is not valid TOML", True),
    "config_unknown_section": (
        ["--config", "{unknown_section}"], r"unknown config section \[nonsense\]", True),
    "config_wrong_type": (["--config", "{wrong_type}"], r"thresholds\.fppa_sls_mild must be a number", True),
    "config_folder": (["--config", "{folder}"], r"--config.*is a directory", False),
}


def _fill(args: list[str], configs: dict[str, Path]) -> list[str]:
    return [str(configs[a[1:-1]]) if a.startswith("{") else a for a in args]


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_cli_screen_bad_arguments(case, good_clip, configs, tmp_path):
    args, pattern, one_line = BAD_ARGS[case]
    out = tmp_path / "results"
    result = invoke("screen", str(good_clip), "--out", str(out), *_fill(args, configs))
    assert_clean_failure(result, pattern, one_line=one_line)
    if not one_line:  # a usage error: points to --help
        assert result.exit_code == 2 and "--help" in result.stderr
    assert_no_output(out)


@pytest.mark.parametrize("case", ["test_nonsense", "side_up", "threshold_unknown", "config_invalid_toml"])
def test_cli_reanalyse_bad_arguments(case, pose_files, configs, tmp_path):
    args, pattern, one_line = BAD_ARGS[case]
    out = tmp_path / "results"
    # the pose file is junk too: argument errors must be reported first
    result = invoke("reanalyse", str(pose_files["junk"]), "--out", str(out), *_fill(args, configs))
    assert_clean_failure(result, pattern, one_line=one_line)
    assert_no_output(out)


# --------------------------------------------------------------------------------------------------
# reanalyse with bad pose files


@pytest.fixture(scope="module")
def pose_files(bad_dir) -> dict[str, Path]:
    d = bad_dir / "pose"
    d.mkdir()
    (d / "junk.npz").write_bytes(np.random.default_rng(2).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    np.savez(d / "other.npz", a=np.arange(3), b=np.ones((2, 2)))
    buf = io.BytesIO()
    np.savez_compressed(buf, coords=np.zeros((50, 33, 3)), header=np.zeros(10, np.uint8))
    (d / "truncated.npz").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    np.save(d / "plain.npy", np.arange(5))
    os.replace(d / "plain.npy", d / "plain_npy.npz")
    arrays = {k: np.zeros(1) for k in ("coords", "visibility", "world", "timestamps", "frame_indices")}
    np.savez(d / "header_not_object.npz", header=np.frombuffer(b"[1, 2]", np.uint8), **arrays)
    np.savez(d / "wrong_format.npz", header=np.frombuffer(b'{"format": "other", "version": 1}', np.uint8),
             **arrays)
    return {p.stem: p for p in d.iterdir()} | {"missing": d / "missing.npz"}


BAD_POSE = {
    "missing": r"pose file not found: .*missing\.npz; give the pose\.npz written by 'chainscan screen'",
    "junk": r"junk\.npz is not a readable pose file.*re-run 'chainscan screen'",
    "truncated": r"truncated\.npz is not a readable pose file",
    "other": r"other\.npz is not a chainscan pose file \(missing coords",
    "wrong_format": r"wrong_format\.npz is format 'other'",
    "plain_npy": r"plain_npy\.npz is not a readable pose file",
    "header_not_object": r"header_not_object\.npz has a damaged header",
}


@pytest.mark.parametrize("case", list(BAD_POSE))
def test_cli_reanalyse_bad_pose_file(case, pose_files, tmp_path):
    out = tmp_path / "results"
    result = invoke("reanalyse", str(pose_files[case]), "--out", str(out))
    assert_clean_failure(result, BAD_POSE.get(case, r"\.npz"))
    assert_no_output(out)


# --------------------------------------------------------------------------------------------------
# the real process: python -m chainscan


def run_chainscan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHAINSCAN_DEBUG"}
    return subprocess.run([sys.executable, "-m", "chainscan", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("case", ["junk", "png_as_mp4", "av1_webm"])
def test_process_bad_video(case, bad_dir, tmp_path):
    out = tmp_path / "results"
    proc = run_chainscan("screen", str(bad_video(case, bad_dir)), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    # exactly one line on stderr: no traceback, no FFmpeg/OpenCV/MediaPipe log noise, no progress bar
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("chainscan: "), repr(proc.stderr)
    assert_one_line(proc.stderr, BAD_VIDEOS[case][1])
    assert_no_output(out)


def test_process_bad_option(good_clip, tmp_path):
    out = tmp_path / "results"
    proc = run_chainscan("screen", str(good_clip), "--out", str(out), "--test", "nonsense", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert re.search(r"--test.*'nonsense' is not one of", flat(proc.stderr))
    assert_no_output(out)


def test_process_reanalyse_corrupt_pose(pose_files, tmp_path):
    out = tmp_path / "results"
    proc = run_chainscan("reanalyse", str(pose_files["junk"]), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("chainscan: "), repr(proc.stderr)
    assert_one_line(proc.stderr, BAD_POSE["junk"])
    assert_no_output(out)
