"""`screen --baseline STANDING_CLIP` end to end with the real model: the baseline's landmarks are stored as
baseline_pose.npz and `reanalyse` of the results uses them again (and says so)."""

import json

import pytest
from typer.testing import CliRunner

from chainscan.cli import app
from chainscan.io.pose_file import load_pose
from helpers_cli import reanalyse_reuses_stored_baseline
from helpers_video import ffmpeg

runner = CliRunner()


@pytest.mark.model
def test_screen_with_a_separate_standing_clip_and_reanalyse(test_videos, tmp_path):
    # the first 1.3 s of a rendered clip: quiet standing on both feet (test_videos/README.md)
    standing = tmp_path / "standing.mp4"
    ffmpeg("-i", str(test_videos / "double_leg_squat.mp4"), "-t", "1.3", "-an", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(standing))
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(test_videos / "single_leg_stance_right.mp4"), "--out", str(out),
                            "--baseline", str(standing), "--no-video", "--workers", "1", "-q"])
    assert r.exit_code == 0, r.output
    d = json.loads((out / "result.json").read_text())
    assert d["baseline"]["source"] == "separate"
    gate = next(g for g in d["quality"] if g["gate"] == "neutral_baseline")
    assert gate["passed"] and "separate standing clip" in gate["message"]
    base = load_pose(out / "baseline_pose.npz")
    assert base.meta.source.endswith("standing.mp4") and 30 <= base.n_frames <= 40
    assert d["test"] == "single_leg_stance" and d["stance_side"] == "right"

    reanalyse_reuses_stored_baseline(out, tmp_path / "again", d)
