"""The lighting gate: per-frame brightness is recorded during extraction and kept in pose.npz, a dark clip
fails the `lighting` gate, and a clip too dark for the model to find anyone says so (add light) rather
than only "nobody in view". Darkened clips are made from a rendered sample in tmp_path."""

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chainscan import synthetic as syn
from chainscan.cli import app
from chainscan.config import QualityConfig
from chainscan.errors import QualityGateFailed
from chainscan.io.pose_file import load_pose, save_pose
from chainscan.pipeline import screen_pose
from chainscan.quality import lighting_gate

runner = CliRunner()


def _darken(src, dst, scale: float, n_frames: int | None = None):
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    k = 0
    while n_frames is None or k < n_frames:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(np.clip(np.round(frame.astype(np.float32) * scale), 0, 255).astype(np.uint8))
        k += 1
    out.release()
    cap.release()
    return dst


def test_lighting_gate_unit():
    pose = syn.make_squat().pose
    assert "luma" not in pose.extra  # as in a pose.npz from an older chainscan
    g = lighting_gate(pose, QualityConfig())
    assert g.passed and "not checked" in g.message and g.value is None
    dark = dataclasses.replace(pose, extra={**pose.extra, "luma": [12.0] * pose.n_frames})
    g = lighting_gate(dark, QualityConfig())
    assert not g.passed and not g.blocking and "too dark" in g.message and "add light" in g.message
    assert g.value == 12.0 and g.unit == "luma 0-255"
    lit = dataclasses.replace(pose, extra={**pose.extra, "luma": [120.0] * pose.n_frames})
    assert lighting_gate(lit, QualityConfig()).passed
    # a dark clip in which no test is recognised names the darkness first
    standing = syn.make_standing().pose
    with pytest.raises(QualityGateFailed, match=r"^The clip is too dark .* probably why no squat"):
        screen_pose(dataclasses.replace(standing, extra={"luma": [10.0] * standing.n_frames}))


def test_old_pose_file_without_brightness_still_reanalyses(tmp_path):
    p = tmp_path / "pose.npz"
    save_pose(syn.make_single_leg_squat().pose, p)
    assert "luma" not in load_pose(p).extra
    r = runner.invoke(app, ["reanalyse", str(p), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 0, r.output
    gates = {g["gate"]: g for g in json.loads((tmp_path / "o" / "result.json").read_text())["quality"]}
    assert gates["lighting"]["passed"] and "not checked" in gates["lighting"]["message"]


@pytest.mark.model
def test_dim_clip_fails_the_lighting_gate_and_keeps_brightness_in_pose_npz(test_videos, tmp_path):
    dim = _darken(test_videos / "double_leg_squat.mp4", tmp_path / "dim.mp4", 0.10)
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(dim), "--out", str(out), "--no-video", "-q"])
    assert r.exit_code == 0, r.output
    d = json.loads((out / "result.json").read_text())
    gate = next(g for g in d["quality"] if g["gate"] == "lighting")
    assert not gate["passed"] and "too dark" in gate["message"] and 10 < gate["value"] < 25
    luma = load_pose(out / "pose.npz").extra["luma"]
    assert len(luma) == d["source"]["frames_analysed"] and 10 < np.median(luma) < 25
    # the same clip at full brightness passes (brightness ≈ 155 of 255)
    lit = load_pose(out / "pose.npz")
    lit = dataclasses.replace(lit, extra={**lit.extra, "luma": [v * 10 for v in lit.extra["luma"]]})
    assert lighting_gate(lit, QualityConfig()).passed


@pytest.mark.model
def test_too_dark_to_find_anyone_says_add_light(test_videos, tmp_path):
    dark = _darken(test_videos / "double_leg_squat.mp4", tmp_path / "dark.mp4", 0.05, n_frames=30)
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(dark), "--out", str(out), "--no-video", "--workers", "1"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    line = r.output.strip()
    assert len(line.splitlines()) == 1
    assert "Nobody was found" in line and "too dark" in line and "add light" in line
    assert not out.exists()
