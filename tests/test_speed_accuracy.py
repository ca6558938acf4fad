"""Issue 6, point 1: the fast default (at most 30 fps, one process per core) must give the metric values of
a full-frame-rate, single-process run, on a 60 fps 1080x1920 clip (the rendered single-leg squat sample at
phone resolution and frame rate, with exact ground truth: +15.0° left-knee FPPA at each deepest frame).

Every angle the screen reports must agree within 1°: each finding's value (the mean over reps) and the
value of every single rep (one frame at the deepest point, where MediaPipe's frame-to-frame jitter is not
averaged away; measured: 0.89° at most, with the workers' frames shrunk to 540x960 for the model). Both
runs must sit much closer to each other than to the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainscan.extract import DEFAULT_MAX_FPS, extract_pose
from chainscan.pipeline import screen_pose

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "test_videos" / "single_leg_squat_left_valgus_1080p60.mp4"

pytestmark = pytest.mark.model


def _angles(result) -> dict[str, float]:
    out = {}
    for f in result.findings:
        if f.unit != "deg" or f.value is None:
            continue
        side = getattr(f.side, "value", f.side)
        out[f"{f.code}/{side}"] = float(f.value)
        for i, v in enumerate(f.rep_values or ()):
            out[f"{f.code}/{side}/rep{i + 1}"] = float(v)
    return out


@pytest.fixture(scope="module")
def runs():
    full = screen_pose(extract_pose(CLIP, max_fps=None, workers=1))
    fast = screen_pose(extract_pose(CLIP, max_fps=DEFAULT_MAX_FPS, workers=2))
    return full, fast


def test_the_default_analyses_half_the_frames_of_a_60_fps_clip(runs):
    full, fast = runs
    assert full.pose.n_frames == 600
    assert 295 <= fast.pose.n_frames <= 305


def test_fast_default_agrees_with_the_full_frame_rate_single_process_run(runs):
    full, fast = runs
    sa, sb = full.segmentation.segments, fast.segmentation.segments
    assert (fast.test, fast.stance_side, len(sb)) == (full.test, full.stance_side, len(sa))
    assert [f.severity for f in fast.findings] == [f.severity for f in full.findings]
    a, b = _angles(full), _angles(fast)
    assert set(a) == set(b) and any(k.startswith("knee_valgus") for k in a)
    for k in a:
        assert abs(a[k] - b[k]) <= 1.0, (k, a[k], b[k])
    for r1, r2 in zip(sa, sb):  # the same deepest moments, within one analysed frame
        t1, t2 = full.pose.timestamps[r1.deepest], fast.pose.timestamps[r2.deepest]
        assert abs(t1 - t2) <= 1 / DEFAULT_MAX_FPS + 1e-6, (t1, t2)


def test_both_runs_differ_from_each_other_far_less_than_from_the_truth(runs):
    full, fast = runs
    gt = json.loads(CLIP.with_name(CLIP.stem + ".gt.json").read_text())
    truth = gt["frames"][gt["reps"][0]["deepest_frame"]]["knee_fppa_left_deg"]
    a, b = _angles(full)["knee_valgus/left"], _angles(fast)["knee_valgus/left"]
    assert abs(a - b) < 0.5 * min(abs(a - truth), abs(b - truth)) + 0.5
    assert abs(a - truth) <= 6.0 and abs(b - truth) <= 6.0  # the documented FPPA error, not a new one
