"""Parallel pose extraction (chunks in worker processes) and the frame plan behind it.

The planning tests need no model. Two tests run the real model on the 10 s sample clip: the parallel
run must keep exactly the frames of a sequential run, and every metric must agree within 1°.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from chainscan import extract
from chainscan.errors import PoseModelUnavailable
from chainscan.extract import CHUNK_OVERLAP_S, _plan_chunks, extract_pose
from chainscan.io.video import (
    ChunkDecodeError,
    FrameSelector,
    VideoReader,
    decode_chunk,
    frame_times,
    model_reduction,
    read_frames,
)
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
        diff = np.abs(f.rgb.astype(int) - seq[i].astype(int))
        assert diff.max() <= 4  # the same picture (colour conversion rounds a level or three apart) ...
        if i > 0:  # ... and the same frame, not a neighbour
            assert diff.mean() < 0.5 * np.abs(f.rgb.astype(int) - seq[i - 1].astype(int)).mean()
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
@pytest.mark.parametrize("spoil", [
    pytest.param(lambda c: dataclasses.replace(c, times=c.times + 0.5), id="a seek lands elsewhere"),
    pytest.param(lambda c: dataclasses.replace(c, width=c.width + 8), id="frames of another size"),
])
def test_a_chunk_that_does_not_match_its_plan_falls_back_to_one_process(monkeypatch, spoil):
    # the workers are separate processes: make the second one see frames other than planned
    real = extract._plan_chunks

    def spoiled(*a, **k):
        plan = real(*a, **k)
        return extract._Plan(plan.meta, (plan.chunks[0], spoil(plan.chunks[1])), plan.n_kept)

    monkeypatch.setattr(extract, "_plan_chunks", spoiled)
    pose = extract_pose(SLS, max_fps=30.0, workers=2)
    assert pose.n_frames == 300 and pose.frame_indices.tolist() == list(range(300))


# --------------------------------------------------------------------------------------------------
# the workers' decoder (PyAV, frames shrunk for the model)


def test_model_reduction_halves_phone_frames_only_while_the_short_side_stays_540():
    assert model_reduction(1080, 1920) == 2 and model_reduction(1920, 1080) == 2
    assert model_reduction(2160, 3840) == 4
    assert model_reduction(720, 1280) == 1 and model_reduction(1079, 1920) == 1 and model_reduction(160, 120) == 1


def _as_reader_sees(path, indices):
    with VideoReader(path) as r:
        return r.meta, {f.index: f for f in r.frames(stop=max(indices) + 1) if f.index in indices}


@pytest.mark.parametrize("reduce", [1, 2])
@pytest.mark.parametrize("rotation", [0, 90, -90, 180])
def test_chunk_decoder_gives_the_readers_frames_upright_and_shrunk(tmp_path, rotation, reduce):
    from helpers_video import ffmpeg

    src = write_clip(tmp_path / "l.mp4", n_frames=90, fps=30, width=320, height=240, extra_out=("-g", "30"))
    clip = src
    if rotation:
        clip = tmp_path / "r.mp4"
        ffmpeg("-display_rotation:v:0", str(rotation), "-i", str(src), "-c", "copy", str(clip))
    keep = [37, 40, 41, 80]
    meta, seen = _as_reader_sees(clip, keep)
    times = frame_times(clip, meta.fps)
    got = list(decode_chunk(clip, start=35, stop=85, keep=np.array(keep), start_time_s=float(times[35]),
                            rotation_deg=meta.rotation_deg, reduce=reduce))
    assert [f.index for f in got] == keep
    for f in got:
        ref = seen[f.index]
        assert abs(f.time_s - ref.time_s) < 1e-6
        assert f.rgb.shape == (meta.height // reduce, meta.width // reduce, 3)
        small = cv2.resize(ref.rgb, (f.rgb.shape[1], f.rgb.shape[0]), interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - f.rgb.astype(int)).mean() < 4  # same picture, same way up


def test_chunk_decoder_converts_other_pixel_formats_through_ffmpeg(tmp_path):
    clip = write_clip(tmp_path / "c444.mp4", n_frames=30, fps=30, width=320, height=240,
                      extra_out=("-pix_fmt", "yuv444p"))
    meta, seen = _as_reader_sees(clip, [0, 29])
    got = list(decode_chunk(clip, start=0, stop=30, keep=np.array([0, 29]), start_time_s=0.0, rotation_deg=0,
                            reduce=2))
    assert [f.rgb.shape for f in got] == [(120, 160, 3)] * 2
    small = cv2.resize(seen[29].rgb, (160, 120), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - got[1].rgb.astype(int)).mean() < 4


def test_chunk_decoder_says_when_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(ChunkDecodeError):
        list(decode_chunk(bad, start=0, stop=10, keep=np.arange(10), start_time_s=0.0, rotation_deg=0, reduce=1))


@pytest.mark.model
def test_landmarks_from_shrunk_frames_are_in_pixels_of_the_full_frame(tmp_path):
    """Scaled up to 1080x1920, the sample clip is shrunk back for the model: landmarks must land where the
    sequential full-size read puts them."""
    from helpers_video import ffmpeg

    big = tmp_path / "big.mp4"
    ffmpeg("-i", str(SLS), "-vf", "scale=1080:1920", "-c:v", "libx264", "-preset", "ultrafast",
           "-g", "30", "-pix_fmt", "yuv420p", str(big))
    plan = _plan_chunks(big, 30.0, 2, False)
    assert plan is not None and plan.chunks[1].reduce == 2
    seq = extract_pose(big, max_fps=30.0, workers=1, check_other_people=False)
    par = extract_pose(big, max_fps=30.0, workers=2, check_other_people=False)
    assert par.frame_indices.tolist() == seq.frame_indices.tolist()
    both = np.isfinite(seq.coords[..., 0]) & np.isfinite(par.coords[..., 0])
    assert both.mean() > 0.95
    err = np.abs(par.coords[..., :2] - seq.coords[..., :2])[both]
    assert np.median(err) < 3.0 and np.percentile(err, 95) < 10.0, (np.median(err), np.percentile(err, 95))
    # z follows x's scale: same order of size as the full-frame run's
    ratio = np.nanmedian(np.abs(par.coords[..., 2])) / np.nanmedian(np.abs(seq.coords[..., 2]))
    assert 0.8 < ratio < 1.25


def test_read_frames_reads_from_the_start_when_a_seek_lands_elsewhere(monkeypatch, clip60):
    from chainscan.io import video

    real = video.decode_chunk

    def off_by_one(path, *, start, stop, keep, start_time_s, **k):
        return real(path, start=start + 1, stop=stop + 1, keep=np.asarray(keep) + 1,
                    start_time_s=start_time_s + 1 / 60, **k)

    monkeypatch.setattr(video, "decode_chunk", off_by_one)
    with VideoReader(clip60) as r:
        seq = {f.index: f.rgb for f in r.frames(stop=300)}
    got = read_frames(clip60, [10, 250])
    assert sorted(got) == [10, 250]
    for i, f in got.items():
        np.testing.assert_array_equal(f.rgb, seq[i])  # the sequential fallback: OpenCV's own pixels


@pytest.mark.model
def test_a_worker_runs_the_model_without_importing_matplotlib_or_sounddevice():
    """... and with the trimmed model (chainscan.io.trimmed_model), for tracking and for the people check."""
    import subprocess
    import sys

    code = ("import sys; from chainscan.extract import _skip_unused_imports; _skip_unused_imports()\n"
            "import numpy as np; from chainscan.io.pose import make_estimator\n"
            "est = make_estimator(); assert est.trimmed\n"
            "est.estimate(np.zeros((96, 64, 3), np.uint8), 0.0); est.detect_still(np.zeros((96, 64, 3), np.uint8))\n"
            "assert est.trimmed; est.close()\n"
            "assert getattr(sys.modules['matplotlib'], '__file__', None) is None\n"
            "assert sys.modules['sounddevice'] is None\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.model
def test_workers_started_early_are_stopped_when_the_clip_runs_in_one_process_or_is_refused(monkeypatch, tmp_path):
    """The workers start while the clip is planned; a clip too short to split, or one that cannot be read,
    leaves none of them running."""
    from chainscan.errors import VideoReadError

    started = []
    real = extract._spawn_worker

    def spawn():
        started.append(real())
        return started[-1]

    monkeypatch.setattr(extract, "_spawn_worker", spawn)
    pose = extract_pose(SLS, max_fps=10.0, workers=2)  # 100 frames: not worth a second process
    assert pose.n_frames == 100 and len(started) == 2
    assert all(p.poll() is not None for p in started)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoReadError):
        extract_pose(bad, max_fps=30.0, workers=2)
    assert len(started) == 4 and all(p.poll() is not None for p in started)
