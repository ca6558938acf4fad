"""The command line: screen (real model on a bundled clip), reanalyse (no model), options and outputs."""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chainscan import synthetic as syn
from chainscan.cli import app
from chainscan.io.pose_file import load_pose, save_pose
from helpers_cli import reanalyse_reuses_stored_baseline

runner = CliRunner()


@pytest.fixture(scope="module")
def sls_pose(tmp_path_factory):
    p = tmp_path_factory.mktemp("pose") / "pose.npz"
    save_pose(syn.make_single_leg_squat(valgus_deg=16.0, pelvic_drop_deg=5.0).pose, p)
    return p


def test_reanalyse_writes_all_outputs(sls_pose, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["reanalyse", str(sls_pose), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(f.name for f in out.iterdir()) == ["frames.csv", "plan.json", "pose.npz", "reps.csv", "result.json"]
    assert "single-leg squat" in r.output and "not a diagnosis" in r.output
    assert "Herrington 2014" in r.output and "SEM" in r.output
    d = json.loads((out / "result.json").read_text())
    assert d["test"] == "single_leg_squat" and d["stance_side"] == "left" and len(d["reps"]) == 3
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert len(rows) == load_pose(sls_pose).n_frames
    cols = set(rows[0])
    for c in ("frame", "time_s", "knee_fppa_left_deg", "knee_fppa_right_deg", "pelvic_obliquity_deg",
              "trunk_lean_deg", "knee_fppa_left_deg_raw", "pelvic_obliquity_deg_raw", "trunk_lean_deg_raw"):
        assert c in cols
    units = ("_deg", "_s", "_px", "_ratio", "_shanklen", "_leglen")
    for c in cols - {"frame", "person_detected", "stance"}:
        assert c.removesuffix("_raw").endswith(units), f"frames.csv column without a unit: {c}"
    reps = list(csv.DictReader((out / "reps.csv").open()))
    assert len(reps) == 3 and float(reps[0]["knee_fppa_left_deg"]) == pytest.approx(16, abs=1.0)
    np.testing.assert_array_equal(load_pose(out / "pose.npz").coords, load_pose(sls_pose).coords)


def test_reanalyse_accepts_threshold_and_filter_options(sls_pose, tmp_path):
    out = tmp_path / "o"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[thresholds]\npelvic_drop_mild = 6.0\n")
    r = runner.invoke(app, ["reanalyse", str(sls_pose), "--out", str(out), "--threshold", "fppa_sls_mild=20",
                            "--threshold", "fppa_sls_marked=25", "--cutoff-hz", "4", "--min-visibility", "0.3",
                            "--max-gap-s", "0.1", "--config", str(cfg), "--test", "single_leg_squat",
                            "--side", "left", "-q"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == ""
    d = json.loads((out / "result.json").read_text())
    assert d["config"]["thresholds"]["fppa_sls_mild"]["value"] == 20
    assert d["config"]["thresholds"]["pelvic_drop_mild"]["value"] == 6
    assert d["config"]["signal"] == {**d["config"]["signal"], "cutoff_hz": 4, "min_visibility": 0.3, "max_gap_s": 0.1}
    f = {x["code"]: x for x in d["findings"]}
    assert f["knee_valgus"]["severity"] == "ok" and f["pelvic_drop"]["severity"] == "ok"
    assert not d["test_detected_automatically"]


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and "chainscan 0." in r.output
    r = runner.invoke(app, ["screen", "--help"])
    assert r.exit_code == 0 and "--max-fps" in r.output and "--model" in r.output


@pytest.mark.model
def test_screen_bundled_sample_end_to_end(test_videos, tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(test_videos / "single_leg_squat_left_valgus.mp4"), "--out", str(out),
                            "--report", "html,pdf", "--blur-faces"])
    assert r.exit_code == 0, r.output
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (out / "report.html").read_text()
    assert "data:image/png" in html and "not a diagnosis" in html
    d = json.loads((out / "result.json").read_text())
    assert d["test"] == "single_leg_squat" and d["stance_side"] == "left" and len(d["reps"]) == 3
    assert d["source"]["pose_model"].startswith("mediapipe")
    assert (out / "annotated.mp4").stat().st_size > 10_000 and (out / "plan.json").is_file()
    assert sorted(p.name for p in (out / "keyframes").iterdir()) == ["keyframe_left.png"]
    # reanalysing the stored pose without the model reproduces the result
    out2 = tmp_path / "again"
    r2 = runner.invoke(app, ["reanalyse", str(out / "pose.npz"), "--out", str(out2), "-q"])
    assert r2.exit_code == 0, r2.output
    d2 = json.loads((out2 / "result.json").read_text())
    for x in (d, d2):
        x.pop("created")
    assert d == d2


@pytest.mark.model
def test_screen_max_fps_halves_frames(test_videos, tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(app, ["screen", str(test_videos / "double_leg_squat.mp4"), "--out", str(out),
                            "--max-fps", "15", "--no-video"])
    assert r.exit_code == 0, r.output
    assert not (out / "annotated.mp4").exists()
    assert sorted(p.name for p in (out / "keyframes").iterdir()) == ["keyframe_left.png", "keyframe_right.png"]
    d = json.loads((out / "result.json").read_text())
    assert d["source"]["analysed_fps"] == pytest.approx(15, abs=0.6)
    frame_rate = next(g for g in d["quality"] if g["gate"] == "frame_rate")
    # the gate judges the 30 fps recording and says that --max-fps thinned it
    assert frame_rate["passed"] and frame_rate["value"] == pytest.approx(30, abs=0.6)
    assert "--max-fps" in frame_rate["message"] and "Recorded at 30 frames/s" in frame_rate["message"]
    rows = list(csv.DictReader((out / "frames.csv").open()))
    frames = [int(x["frame"]) for x in rows]
    assert frames[:3] == [0, 2, 4]
    # reanalysing its pose.npz (no --max-fps) gives the same gates and the same result
    out2 = tmp_path / "again"
    r2 = runner.invoke(app, ["reanalyse", str(out / "pose.npz"), "--out", str(out2), "-q"])
    assert r2.exit_code == 0, r2.output
    d2 = json.loads((out2 / "result.json").read_text())
    assert d2["quality"] == d["quality"]
    assert "has only 15 frames/s" not in json.dumps(d2) and "recorded at only" not in json.dumps(d2)
    for x in (d, d2):
        x.pop("created")
    assert d2 == d


def test_reanalyse_with_a_separate_baseline(tmp_path):
    stand = tmp_path / "stand.npz"
    save_pose(syn.make_standing().pose, stand)
    clip = syn.make_single_leg_stance(pelvic_drop_deg=5.0)
    p = tmp_path / "clip.npz"
    save_pose(clip.pose, p)
    out = tmp_path / "o"
    r = runner.invoke(app, ["reanalyse", str(p), "--out", str(out), "--baseline", str(stand)])
    assert r.exit_code == 0, r.output
    d = json.loads((out / "result.json").read_text())
    assert d["baseline"]["source"] == "separate"
    drop = next(f for f in d["findings"] if f["code"] == "pelvic_drop")
    assert drop["value"] == pytest.approx(5.0, abs=1.0)
    # the baseline's landmarks are stored with the results and reused by the next reanalyse
    np.testing.assert_array_equal(load_pose(out / "baseline_pose.npz").coords, load_pose(stand).coords)
    reanalyse_reuses_stored_baseline(out, tmp_path / "o2", d)
    # --clip-baseline ignores it
    out3 = tmp_path / "o3"
    r3 = runner.invoke(app, ["reanalyse", str(out / "pose.npz"), "--out", str(out3), "--clip-baseline", "-q"])
    assert r3.exit_code == 0, r3.output
    assert json.loads((out3 / "result.json").read_text())["baseline"]["source"] == "clip"
    assert not (out3 / "baseline_pose.npz").exists()


def test_reports_plan_and_report_command(sls_pose, tmp_path):
    out = tmp_path / "o"
    r = runner.invoke(app, ["reanalyse", str(sls_pose), "--out", str(out), "--report", "html,pdf",
                            "--subject", "Patient 7", "-q"])
    assert r.exit_code == 0, r.output
    names = {f.name for f in out.iterdir()}
    assert {"report.html", "report.pdf", "plan.json", "result.json"} <= names
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (out / "report.html").read_text()
    assert "Patient 7" in html and "not a diagnosis" in html
    plan = json.loads((out / "plan.json").read_text())
    assert plan["items"] and plan["items"][0]["region"] == "foot"
    # the report command rebuilds the plan from new answers and re-renders
    r2 = runner.invoke(app, ["report", str(out / "result.json"), "--format", "html", "--arch", "flat",
                             "--pain", "knee"])
    assert r2.exit_code == 0, r2.output
    plan2 = json.loads((out / "plan.json").read_text())
    assert plan2["answers"]["arch"] == "flat" and plan2["answers"]["pain"] == ["knee"]
    assert plan2 != plan


@pytest.mark.parametrize("args,needle", [
    (["--report", "docx"], "Unknown report format docx"),
    (["--arch", "wide"], "arch"),
    (["--pain", "elbow"], "elbow"),
    (["--sex", "x"], "sex"),
])
def test_bad_report_and_answer_options(sls_pose, tmp_path, args, needle):
    out = tmp_path / "o"
    r = runner.invoke(app, ["reanalyse", str(sls_pose), "--out", str(out), *args])
    assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_report_command_needs_a_result(tmp_path):
    r = runner.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 1 and "No result.json" in r.output
