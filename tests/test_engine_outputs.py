"""Re-running into an existing results folder: the new run's outputs never sit beside stale outputs of an
earlier run (annotated video, key frames, reports, baseline), a user's own files stay, and a failure leaves
the earlier results as they were."""

import json
import os

import pytest
from typer.testing import CliRunner

from chainscan import synthetic as syn
from chainscan.cli import app
from chainscan.errors import ChainscanError
from chainscan.io.pose_file import save_pose
from chainscan.pipeline import screen_pose
from chainscan.report.writer import write_outputs

runner = CliRunner()


@pytest.fixture
def earlier_run(tmp_path):
    """A results folder as an earlier `screen --baseline … --report html` left it, plus a user's notes."""
    pose, stand = tmp_path / "pose.npz", tmp_path / "stand.npz"
    save_pose(syn.make_single_leg_squat(valgus_deg=16.0).pose, pose)
    save_pose(syn.make_standing().pose, stand)
    out = tmp_path / "res"
    r = runner.invoke(app, ["reanalyse", str(pose), "--out", str(out), "--baseline", str(stand), "--report", "html",
                            "-q"])
    assert r.exit_code == 0, r.output
    (out / "annotated.mp4").write_bytes(b"old video")
    (out / "keyframes").mkdir()
    (out / "keyframes" / "keyframe_left.png").write_bytes(b"old png")
    (out / "notes.txt").write_text("my own notes")
    assert {"report.html", "baseline_pose.npz", "annotated.mp4", "keyframes"} <= {p.name for p in out.iterdir()}
    return pose, out


def test_rerun_removes_stale_outputs_but_keeps_user_files(earlier_run):
    pose, out = earlier_run
    old_created = json.loads((out / "result.json").read_text())["created"]
    r = runner.invoke(app, ["reanalyse", str(pose), "--out", str(out), "--clip-baseline", "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["frames.csv", "notes.txt", "plan.json", "pose.npz", "reps.csv",
                                                     "result.json"]
    assert (out / "notes.txt").read_text() == "my own notes"
    d = json.loads((out / "result.json").read_text())
    assert d["baseline"]["source"] == "clip" and d["created"] >= old_created


def test_a_failed_rerun_leaves_the_earlier_results_untouched(earlier_run):
    pose, out = earlier_run
    before = {p.name: (p.read_bytes() if p.is_file() else None) for p in out.iterdir()}
    result = screen_pose(syn.make_squat().pose)

    def boom(folder):
        raise OSError(28, "No space left on device")

    with pytest.raises(ChainscanError, match="No space left"):
        write_outputs(result, out, extras=[boom])
    assert {p.name: (p.read_bytes() if p.is_file() else None) for p in out.iterdir()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".chainscan")]


def test_a_failed_move_puts_the_earlier_results_back(earlier_run, monkeypatch):
    pose, out = earlier_run
    before = {p.name: (p.read_bytes() if p.is_file() else None) for p in out.iterdir()}
    result = screen_pose(syn.make_squat().pose)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src, dst):  # the move of the new reps.csv from the staging folder into place fails
        calls["n"] += 1
        staged = os.path.basename(os.path.dirname(src))
        if staged.startswith(".chainscan-") and not staged.startswith(".chainscan-old-") \
                and os.path.basename(dst) == "reps.csv":
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(ChainscanError, match="Input/output error"):
        write_outputs(result, out)
    monkeypatch.setattr(os, "replace", real_replace)
    assert calls["n"] > 3
    assert {p.name: (p.read_bytes() if p.is_file() else None) for p in out.iterdir()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".chainscan")]
