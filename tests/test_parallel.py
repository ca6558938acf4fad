"""Parallel pose extraction (chunks in worker processes) and the frame plan behind it.

The planning tests need no model. Two tests run the real model on the 10 s sample clip: the parallel
run must keep exactly the frames of a sequential run, and every metric must agree within 1°.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainscan import extract
from chainscan.errors import PoseModelUnavailable
from chainscan.extract import CHUNK_OVERLAP_S, _plan_chunks, extract_pose
from chainscan.io.video import FrameSelector, VideoReader, frame_times, read_frames
from chainscan.pipeline import screen_pose
from helpers_video import write_clip

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SLS = ROOT / "test_videos" / "single_leg_squat_left_valgus.mp4"


@pytest.fixture(scope="module")
def clip60(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("par") / "c60.mp4", n_frames=900, fps=60)


def test_frame_times_match_a_sequential_read(clip60):
    with VideoReader(clip60) as r:
        seq = np.array([f.time_s for f in r.frames()])
    idx = frame_times(clip60, 60.0)
    assert idx is not None and len(idx) == len(seq)
    np.testing.assert_allclose(idx, seq, atol=1e-6)


@pytest.mark.parametrize("max_fps", [None, 30.0, 25.0])
def test_plan_keeps_the_frames_of_a_sequential_read_and_covers_each_once(clip60, max_fps):
    plan = _plan_chunks(clip60, max_fps, 2, True)
    assert plan is not None and len(plan.chunks) == 2
    with VideoReader(clip60) as r:
        seq = [f.index for f in r.frames(max_fps=max_fps)]
    own = np.concatenate([c.keep[c.keep >= c.own_from] for c in plan.chunks])
    assert own.tolist() == seq  # every kept frame exactly once, in order
    c0, c1 = plan.chunks
    assert c0.start == 0 and c0.stop <= c1.own_from and c1.start < c1.own_from
    overlap_s = c1.times[np.searchsorted(c1.keep, c1.own_from)] - c1.times[0]
    assert overlap_s >= CHUNK_OVERLAP_S - 1 / 30  # the tracker gets its run-in before the chunk's own frames
    assert len(plan.chunks[0].checks) + len(plan.chunks[1].checks) == extract.PEOPLE_CHECK_FRAMES
    # equal work: own frames plus run-in frames differ by at most a few frames between chunks
    work = [len(c.keep) for c in plan.chunks]
    assert abs(work[0] - work[1]) <= 3, work


def test_short_clips_and_single_worker_are_not_split(clip60):
    assert _plan_chunks(clip60, None, 1, True) is None
    assert _plan_chunks(SLS, 30.0, 8, True) is not None  # 300 frames: 2 chunks at most
    assert len(_plan_chunks(SLS, 30.0, 8, True).chunks) == 2
    assert _plan_chunks(SLS, 10.0, 2, True) is None  # 100 frames: not worth a process


def test_selector_is_the_readers_rule(clip60):
    times = frame_times(clip60, 60.0)
    sel = FrameSelector(25.0, 60.0)
    planned = [i for i, t in enumerate(times) if sel.keep(float(t))]
    with VideoReader(clip60) as r:
        assert [f.index for f in r.frames(max_fps=25.0)] == planned


def test_seek_reads_the_same_pixels(clip60):
    with VideoReader(clip60) as r:
        seq = {f.index: f.rgb for f in r.frames(stop=700)}
    got = read_frames(clip60, [0, 299, 613, 699])
    assert sorted(got) == [0, 299, 613, 699]
    for i, f in got.items():
        np.testing.assert_array_equal(f.rgb, seq[i])
    assert read_frames(clip60, [5000]) == {}


def test_a_worker_error_reaches_the_caller_as_one_sentence(tmp_path):
    missing = tmp_path / "nope.task"
    with pytest.raises(PoseModelUnavailable, match="nope.task"):
        extract_pose(SLS, max_fps=30.0, workers=2, model_path=missing)


def test_without_a_timestamp_index_the_sequential_path_runs(monkeypatch, clip60):
    monkeypatch.setattr(extract, "frame_times", lambda *a, **k: None)
    assert _plan_chunks(clip60, None, 2, True) is None


@pytest.mark.model
def test_parallel_run_matches_a_sequential_run_within_1_degree():
    seq = extract_pose(SLS, max_fps=30.0, workers=1)
    par = extract_pose(SLS, max_fps=30.0, workers=2)
    assert par.frame_indices.tolist() == seq.frame_indices.tolist()
    np.testing.assert_allclose(par.timestamps, seq.timestamps)
    assert par.model == seq.model
    assert par.extra["other_people_checks"] == extract.PEOPLE_CHECK_FRAMES
    both = np.isfinite(seq.coords[..., 0]) & np.isfinite(par.coords[..., 0])
    assert both.mean() > 0.95
    # tracking restarts at the chunk boundary; after the run-in the landmarks agree to a pixel or two
    assert np.nanpercentile(np.abs(par.coords[..., :2] - seq.coords[..., :2])[both], 99) < 3.0
    a, b = screen_pose(seq).to_dict(), screen_pose(par).to_dict()
    assert a["test"] == b["test"] and a["stance_side"] == b["stance_side"] and len(a["reps"]) == len(b["reps"])
    fa = {(f["code"], f["side"]): f for f in a["findings"]}
    fb = {(f["code"], f["side"]): f for f in b["findings"]}
    assert fa.keys() == fb.keys()
    for key, f in fa.items():
        if f["unit"] == "deg" and f["value"] is not None:
            assert abs(f["value"] - fb[key]["value"]) <= 1.0, (key, f["value"], fb[key]["value"])
            assert f["severity"] == fb[key]["severity"] or abs(f["value"] - f["threshold"]) < 1.0


@pytest.mark.model
def test_falls_back_to_one_process_when_a_seek_lands_elsewhere(monkeypatch):
    real = extract._plan_chunks

    def shifted(*a, **k):
        plan = real(*a, **k)
        c = plan.chunks[1]
        bad = extract._Chunk(c.number, c.start, c.own_from, c.stop, c.keep, c.times + 0.5, c.checks)
        return extract._Plan(plan.meta, (plan.chunks[0], bad), plan.n_kept)

    monkeypatch.setattr(extract, "_plan_chunks", shifted)
    pose = extract_pose(SLS, max_fps=30.0, workers=2)
    assert pose.n_frames == 300 and pose.frame_indices.tolist() == list(range(300))
