"""The live (webcam) path without a browser or a model: un-mirroring, the bounded queue, the setup check,
the protocol state machine on synthetic landmarks, and the PoseSequence it hands to screen_pose."""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction

import numpy as np
import pytest

from chainscan import live
from chainscan import synthetic as syn
from chainscan.errors import ConfigError
from chainscan.io.pose import PoseFrame
from chainscan.landmarks import N_LANDMARKS, Side
from chainscan.landmarks import Landmark as L
from chainscan.live import LiveSample, LiveSession, LiveTest, Phase, Protocol, SetupCheck
from chainscan.pipeline import screen_pose
from chainscan.types import TestType

RED, BLUE = (255, 0, 0), (0, 0, 255)


# ---------------------------------------------------------------------------------------------------
# fakes


class ListEstimator:
    """Returns the given PoseFrames (or None) one per call, then repeats the last."""

    name = "fake-list"

    def __init__(self, frames):
        self.frames = list(frames)
        self.i = 0
        self.closed = False

    def estimate(self, rgb, time_s):
        f = self.frames[min(self.i, len(self.frames) - 1)]
        self.i += 1
        return f

    def detect_still(self, rgb):
        return None

    def close(self):
        self.closed = True


class KneeDotEstimator:
    """A 'model' that, like MediaPipe, assumes the person faces the camera: of two knee dots it labels the
    one further right in the image as the LEFT knee. Records the frame it was given."""

    name = "fake-dots"

    def __init__(self):
        self.seen = []

    def estimate(self, rgb, time_s):
        self.seen.append(rgb.copy())
        xs = []
        for colour in (RED, BLUE):
            ys, xx = np.nonzero(np.all(rgb == colour, axis=-1))
            xs.append((float(xx.mean()), float(ys.mean())))
        img = np.full((N_LANDMARKS, 4), np.nan, np.float32)
        (x1, y1), (x2, y2) = sorted(xs)  # image-left first
        img[L.RIGHT_KNEE] = (x1, y1, 0, 1)
        img[L.LEFT_KNEE] = (x2, y2, 0, 1)
        return PoseFrame(img, np.full((N_LANDMARKS, 3), np.nan, np.float32))

    def detect_still(self, rgb):
        return None

    def close(self):
        pass


def pose_frames(clip) -> list[PoseFrame | None]:
    p = clip.pose
    out: list[PoseFrame | None] = []
    for i in range(p.n_frames):
        if not np.isfinite(p.coords[i]).any():
            out.append(None)
            continue
        img = np.concatenate([p.coords[i], p.visibility[i][:, None]], axis=1).astype(np.float32)
        out.append(PoseFrame(img, p.world[i].copy()))
    return out


def samples(frames, fps=30.0, width=syn.WIDTH, height=syn.HEIGHT, t0=0.0):
    return [LiveSample(t0 + k / fps, k, f, width, height) for k, f in enumerate(frames)]


def standing(duration_s=2.0):
    return pose_frames(syn.make_standing(duration_s=duration_s))


def shifted(frames, dx=0.0, dy=0.0, scale=1.0):
    cx, cy = syn.WIDTH / 2, syn.HEIGHT / 2
    out = []
    for f in frames:
        img = f.image.copy()
        img[:, 0] = cx + (img[:, 0] - cx) * scale + dx
        img[:, 1] = cy + (img[:, 1] - cy) * scale + dy
        out.append(PoseFrame(img, f.world))
    return out


# ---------------------------------------------------------------------------------------------------
# mirroring


def _dot_frame() -> np.ndarray:
    """A camera's (un-mirrored) view of a subject facing it: the subject's LEFT knee (red) appears on
    the image right, the right knee (blue) on the image left."""
    rgb = np.zeros((120, 200, 3), np.uint8)
    rgb[80:84, 140:144] = RED
    rgb[80:84, 56:60] = BLUE
    return rgb


@pytest.mark.parametrize("mirrored_input", [False, True])
def test_unmirroring_keeps_the_subjects_left_knee_left(mirrored_input):
    camera = _dot_frame()
    frame_in = camera[:, ::-1].copy() if mirrored_input else camera
    est = KneeDotEstimator()
    sess = LiveSession(lambda: est, input_mirrored=mirrored_input, mirror_preview=True, draw=False)
    shown = sess.on_frame(frame_in, 0.0)
    (s,) = sess.drain()
    # the model saw the camera's view, whatever the input was
    np.testing.assert_array_equal(est.seen[0], camera)
    lx, ly = s.frame.image[L.LEFT_KNEE, :2]
    assert tuple(camera[int(ly), int(lx)]) == RED, "the LEFT knee must be the subject's left (red) knee"
    assert lx > s.width / 2
    # the preview is mirrored for the user (their left knee on the image left, as in a mirror)
    np.testing.assert_array_equal(shown, camera[:, ::-1])


def test_a_mirrored_frame_analysed_as_is_swaps_the_sides():
    """Control for the test above: without un-mirroring, the 'left' knee lands on the right knee."""
    est = KneeDotEstimator()
    sess = LiveSession(lambda: est, input_mirrored=False, draw=False)
    mirrored = _dot_frame()[:, ::-1].copy()
    sess.on_frame(mirrored, 0.0)
    (s,) = sess.drain()
    lx, ly = s.frame.image[L.LEFT_KNEE, :2]
    assert tuple(mirrored[int(ly), int(lx)]) == BLUE


def test_knee_fppa_does_not_change_with_the_preview_mirror():
    clip = syn.make_single_leg_squat(side=Side.LEFT, n_reps=1, valgus_deg=15, noise_px=0)
    deepest = clip.truth.reps[0][1]
    f = pose_frames(clip)[deepest]
    fppa = live.knee_fppa(f.image)
    assert fppa[Side.LEFT] == pytest.approx(15, abs=0.5)
    rgb = np.zeros((syn.HEIGHT, syn.WIDTH, 3), np.uint8)
    for mirror in (True, False):
        out = live.draw_live_overlay(rgb, f, ("Rep 1 of 5",), mirror=mirror)
        assert out.shape == rgb.shape and out.dtype == np.uint8 and out.any()
    assert not rgb.any(), "the overlay draws on a copy"


# ---------------------------------------------------------------------------------------------------
# the queue


def test_queue_drops_the_oldest_when_full_and_counts_it():
    sess = LiveSession(lambda: ListEstimator([None]), queue_size=5, draw=False, mirror_preview=False)
    rgb = np.zeros((48, 64, 3), np.uint8)
    for k in range(12):
        out = sess.on_frame(rgb, k / 30)
        assert out.shape == rgb.shape
    st = sess.stats()
    assert st.frames == 12 and st.dropped == 7 and st.detected == 0
    got = sess.drain()
    assert [s.index for s in got] == list(range(7, 12))
    assert math.isfinite(st.latency_ms) and st.latency_ms >= 0 and st.fps > 0
    assert sess.drain() == []


def test_times_are_forced_to_increase_and_close_rebuilds_the_model():
    made = []

    def factory():
        made.append(ListEstimator([None]))
        return made[-1]

    sess = LiveSession(factory, draw=False)
    rgb = np.zeros((8, 8, 3), np.uint8)
    for t in (1.0, 1.0, 0.5, 2.0):
        sess.on_frame(rgb, t)
    ts = [s.t for s in sess.drain()]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    sess.close()
    assert made[0].closed
    sess.on_frame(rgb, 3.0)
    assert len(made) == 2


# ---------------------------------------------------------------------------------------------------
# the frame callback: newest frame only, no backlog


class IndexEstimator:
    """Reads the frame's index from its first pixel; optionally takes ``delay_s`` per frame (a slow model)."""

    name = "fake-index"

    def __init__(self, delay_s=0.0, pose=None):
        self.delay_s = delay_s
        self.pose = pose
        self.seen = []       # frame indices, in the order they were analysed
        self.newest = []     # the newest index offered at that moment (set by the feeder)
        self.offered = [-1]

    def estimate(self, rgb, time_s):
        self.seen.append(int(rgb[0, 0, 0]))
        self.newest.append(self.offered[0])
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.pose

    def detect_still(self, rgb):
        return None

    def close(self):
        pass


def _av_frame(index, size=(24, 32)):
    av = pytest.importorskip("av")
    rgb = np.full(size + (3,), index, np.uint8)
    f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    f.pts, f.time_base = index * 3000, Fraction(1, 90000)
    return f


def test_on_av_frames_analyses_only_the_newest_frame_and_counts_the_skipped():
    est = IndexEstimator()
    sess = LiveSession(lambda: est, draw=False, mirror_preview=False)
    batches = [[0], [1, 2, 3], [4], [5, 6]]
    for batch in batches:
        out = asyncio.run(sess.on_av_frames([_av_frame(i) for i in batch]))
        assert len(out) == 1
        shown = out[0].to_ndarray(format="rgb24")
        assert shown.shape == (24, 32, 3) and shown[0, 0, 0] == batch[-1], "the overlay is of the newest frame"
    assert est.seen == [0, 3, 4, 6]
    st = sess.stats()
    assert st.frames == 4 and st.skipped == 3
    assert [s.t for s in sess.drain()] == pytest.approx([i / 30 for i in (0, 3, 4, 6)])  # the frames' media times
    assert asyncio.run(sess.on_av_frames([])) == []
    sess.reset()
    assert sess.stats().skipped == 0


def test_the_dashboards_async_track_never_builds_a_backlog():
    """streamlit-webrtc's async track (what the page builds) with our callback, frames offered 10× faster
    than the 'model' can take them: frames are skipped, never queued — every analysed frame is newer than
    the previous one and at most a few frames older than the newest, and the last frame is analysed."""
    pytest.importorskip("streamlit_webrtc")
    from aiortc import MediaStreamTrack
    from streamlit_webrtc.models import CallbackAttachableProcessor
    from streamlit_webrtc.process import AsyncVideoProcessTrack

    n, interval_s = 60, 0.002
    est = IndexEstimator(delay_s=0.02)
    sess = LiveSession(lambda: est, draw=False, mirror_preview=False)

    class Source(MediaStreamTrack):
        kind = "video"

        def __init__(self):
            super().__init__()
            self.k = 0

        async def recv(self):
            await asyncio.sleep(interval_s)
            f = _av_frame(min(self.k, n - 1))
            est.offered[0] = min(self.k, n - 1)
            self.k += 1
            return f

    async def run():
        track = AsyncVideoProcessTrack(track=Source(), processor=CallbackAttachableProcessor(
            frame_callback=None, queued_frames_callback=sess.on_av_frames, ended_callback=None))
        outs = [await track.recv() for _ in range(n)]
        for _ in range(500):  # let the worker finish the last frame
            if est.seen and est.seen[-1] == n - 1:
                break
            await asyncio.sleep(0.01)
        track.stop()
        return outs

    outs = asyncio.run(run())
    assert all(o.width == 32 and o.height == 24 for o in outs)
    seen = est.seen
    assert seen[-1] == n - 1, "the newest frame is always analysed"
    assert all(b > a for a, b in zip(seen, seen[1:])), "never an older frame after a newer one"
    st = sess.stats()
    assert st.frames == len(seen) and st.skipped > 0
    assert st.frames + st.skipped == n, "every frame offered is either analysed or counted as skipped"
    lag = [newest - i for i, newest in zip(seen, est.newest)]
    assert max(lag) <= 10, f"a backlog built up: analysed frames lagged the newest by {max(lag)} frames"


def test_on_frame_draws_an_overlay_of_the_same_shape_and_times_pose_and_drawing():
    clip = syn.make_squat(n_reps=1, valgus_deg=8)
    f = pose_frames(clip)[clip.truth.reps[0][1]]
    sess = LiveSession(lambda: ListEstimator([f]), mirror_preview=True)
    rgb = np.full((syn.HEIGHT, syn.WIDTH, 3), 90, np.uint8)
    sess.set_banner(("Rep 1 of 5", "Squat down and up, 5 times, at an even pace"))
    out = sess.on_frame(rgb, 0.0)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert (out != 90).any() and (rgb == 90).all(), "drawn on a copy"
    st = sess.stats()
    assert math.isfinite(st.pose_ms) and math.isfinite(st.overlay_ms) and st.overlay_ms >= 0
    t = sess.timings_ms()
    assert len(t["pose"]) == len(t["overlay"]) == len(t["total"]) == 1
    assert t["total"][0] >= t["pose"][0] + t["overlay"][0] - 1e-6


def test_the_model_in_a_child_process_gives_the_same_landmarks(test_videos):
    """The dashboard runs the model in its own process (ProcessPose): same model, same tracking, so the
    very same landmarks as in-process, frame by frame; it starts afresh after close."""
    pytest.importorskip("mediapipe")
    av = pytest.importorskip("av")
    from chainscan.io.pose import make_estimator

    with av.open(str(test_videos / "double_leg_squat.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(8), c.decode(video=0))]
    child, here = live.ProcessPose(), make_estimator()
    try:
        assert child.name == here.name
        for k, rgb in enumerate(frames):
            a, b = child.estimate(rgb, k / 30), here.estimate(rgb, k / 30)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a.image, b.image)
                np.testing.assert_array_equal(a.world, b.world)
        assert child.detect_still(frames[0]) is not None
    finally:
        child.close()
        here.close()
    child.close()  # idempotent
    assert child._proc.returncode is not None
    with pytest.raises(RuntimeError, match="gone"):
        child.estimate(frames[0], 1.0)


def test_the_model_process_reports_a_missing_model(monkeypatch, tmp_path):
    from chainscan.errors import PoseModelUnavailable

    monkeypatch.setenv("CHAINSCAN_POSE_MODEL", str(tmp_path / "missing.task"))
    with pytest.raises(PoseModelUnavailable, match="pose model process failed"):
        live.ProcessPose()


@pytest.mark.parametrize("shape", [(7, 5, 3), (7, 5), (6, 9, 4), (1, 1, 3), (4, 3, 7)])
def test_unmirror_equals_a_numpy_flip_and_copies(shape):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    for src in (a, a[:, ::2], a[::-1]):  # contiguous and strided input
        out = live.unmirror(src)
        np.testing.assert_array_equal(out, src[:, ::-1])
        assert out.flags.c_contiguous and not np.shares_memory(out, src)


def test_the_cached_text_layout_matches_the_canvas():
    from chainscan.report.draw import TEXT_RGB, Canvas, Style

    style = Style.for_frame(640, 480)
    lines = [("Rep 1 of 5", style.font_px, TEXT_RGB),
             ("Lift your right foot and squat on your left leg, 5 times, slowly and evenly", style.small_px, TEXT_RGB)]
    rgb = np.zeros((480, 640, 3), np.uint8)
    want = Canvas(rgb.copy(), style).measure_block(lines, 300)
    for _ in range(2):  # computed, then from the cache
        assert live._LiveCanvas(rgb.copy(), style).measure_block(lines, 300) == want
    assert len(want[0]) > 2, "the long line wraps"


# ---------------------------------------------------------------------------------------------------
# setup check


def test_setup_passes_for_a_whole_body_facing_the_camera():
    status = SetupCheck().check(samples(standing()))
    assert status.passed, status.instructions
    assert status.instructions == (live.HOLD_STILL,)


def test_setup_feet_out_of_frame_says_step_back():
    status = SetupCheck().check(samples(shifted(standing(), dy=220)))
    assert not status.passed
    assert status.instructions[0] == "Step back until your feet are in the picture"


def test_setup_side_view_says_turn_to_face_the_camera():
    clip = syn.make_squat(n_reps=1, yaw_deg=90, stand_s=2.0)
    status = SetupCheck().check(samples(pose_frames(clip)[:40]))
    assert not status.passed
    assert "Turn to face the camera" in status.instructions


def test_setup_back_view_and_far_away():
    back = syn.make_single_leg_stance(back=True, stand_s=2.0)
    status = SetupCheck().check(samples(pose_frames(back)[:40]))
    assert live.TURN_AROUND in status.instructions
    far = SetupCheck().check(samples(shifted(standing(), scale=0.3)))
    assert far.instructions == (live.COME_CLOSER,)


def test_setup_nobody_in_view():
    status = SetupCheck().check(samples([None] * 30))
    assert status.instructions == (live.STEP_INTO_VIEW,)


# ---------------------------------------------------------------------------------------------------
# protocol


def _run(spec: LiveTest, clip, lead_s=5.0):
    """Stand (setup + countdown), then the clip, then stand; through a LiveSession with a fake model."""
    stand = standing(lead_s)
    seq = stand + pose_frames(clip) + stand[:60]
    sess = LiveSession(lambda: ListEstimator(seq), draw=False, mirror_preview=False)
    proto = Protocol(spec)
    rgb = np.zeros((syn.HEIGHT, syn.WIDTH, 3), np.uint8)
    phases = []
    for k in range(len(seq)):
        sess.on_frame(rgb, 100.0 + k / 30)
        proto.feed_many(sess.drain())
        if not phases or phases[-1] is not proto.phase:
            phases.append(proto.phase)
        if proto.done:
            break
    return proto, phases, sess


CASES = [
    (LiveTest(TestType.DOUBLE_LEG_SQUAT, reps=3), lambda: syn.make_squat(n_reps=3, valgus_deg=8), None),
    (LiveTest(TestType.SINGLE_LEG_SQUAT, side=Side.LEFT, reps=3),
     lambda: syn.make_single_leg_squat(side=Side.LEFT, n_reps=3, valgus_deg=15), Side.LEFT),
    (LiveTest(TestType.SINGLE_LEG_STANCE, side=Side.RIGHT, hold_s=4.0),
     lambda: syn.make_single_leg_stance(side=Side.RIGHT, hold_s=6.0, pelvic_drop_deg=6.0), Side.RIGHT),
]


@pytest.mark.parametrize("spec,make,side", CASES, ids=lambda x: getattr(x, "label", None))
def test_protocol_reaches_done_and_its_pose_analyses_to_the_test(spec, make, side):
    proto, phases, sess = _run(spec, make())
    assert phases == [Phase.SETUP, Phase.COUNTDOWN, Phase.TEST, Phase.DONE], phases
    assert proto.progress == 1.0
    if spec.test is not TestType.SINGLE_LEG_STANCE:
        assert proto.reps == spec.reps
    pose = proto.to_pose_sequence(model=sess.model_name)
    assert pose.timestamps[0] == 0.0 and np.all(np.diff(pose.timestamps) > 0)
    assert np.all(np.diff(pose.frame_indices) > 0)
    assert pose.fps == pytest.approx(30, rel=0.01) and pose.model == "fake-list"
    assert pose.meta.width == syn.WIDTH and pose.meta.height == syn.HEIGHT
    result = screen_pose(pose, **proto.analysis_kwargs())
    assert result.test is spec.test
    assert result.stance_side is side
    if spec.test is TestType.SINGLE_LEG_SQUAT:
        valgus = [f for f in result.findings if f.code == "knee_valgus" and f.side is Side.LEFT]
        assert valgus and valgus[0].value == pytest.approx(15, abs=3)
    if spec.test is TestType.SINGLE_LEG_STANCE:
        drop = [f for f in result.findings if f.code == "pelvic_drop"]
        assert drop and drop[0].value == pytest.approx(6, abs=2)


def test_stance_on_both_legs_runs_right_then_left():
    spec = LiveTest(TestType.SINGLE_LEG_STANCE, side=None, hold_s=3.0)
    right = pose_frames(syn.make_single_leg_stance(side=Side.RIGHT, hold_s=4.0))
    left = pose_frames(syn.make_single_leg_stance(side=Side.LEFT, hold_s=4.0, seed=1))
    seq = standing(5.0) + right + standing(2.0) + left + standing(2.0)
    proto = Protocol(spec)
    seen_sides = []
    for s in samples(seq):
        proto.feed(s)
        if proto.phase is Phase.TEST and (not seen_sides or seen_sides[-1] is not proto.stance_side):
            seen_sides.append(proto.stance_side)
    assert proto.done and seen_sides == [Side.RIGHT, Side.LEFT]
    result = screen_pose(proto.to_pose_sequence(), **proto.analysis_kwargs())
    assert result.test is TestType.SINGLE_LEG_STANCE
    assert {s.side for s in result.segmentation.segments} == {Side.LEFT, Side.RIGHT}


def test_protocol_goes_back_to_setup_when_the_person_leaves_during_the_countdown():
    proto = Protocol(LiveTest(TestType.DOUBLE_LEG_SQUAT))
    seq = standing(1.5) + [None] * 75
    for s in samples(seq):
        proto.feed(s)
        if proto.phase is Phase.COUNTDOWN:
            assert proto.countdown_left <= 3.0
    assert proto.phase is Phase.SETUP
    assert proto.instructions == (live.STEP_INTO_VIEW,)


def test_protocol_time_limit_and_finish():
    proto = Protocol(LiveTest(TestType.DOUBLE_LEG_SQUAT, reps=5, max_s=2.0))
    for s in samples(standing(8.0)):
        proto.feed(s)
    assert proto.done and proto.finished_reason == "time limit reached" and proto.reps == 0
    p2 = Protocol(LiveTest(TestType.DOUBLE_LEG_SQUAT))
    p2.finish()
    assert p2.done
    with pytest.raises(ValueError, match="nothing was recorded"):
        p2.to_pose_sequence()


def test_live_test_validation():
    with pytest.raises(ValueError, match="stance side"):
        LiveTest(TestType.SINGLE_LEG_SQUAT)
    with pytest.raises(ValueError, match="no stance side"):
        LiveTest(TestType.DOUBLE_LEG_SQUAT, side=Side.LEFT)


# ---------------------------------------------------------------------------------------------------
# ICE servers


def test_ice_servers_from_env():
    assert live.ice_servers_from_env({}) == []
    servers = [{"urls": ["stun:stun.example.org:3478"]},
               {"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]
    import json

    assert live.ice_servers_from_env({live.ICE_ENV: json.dumps(servers)}) == servers
    assert live.ice_servers_from_env({live.ICE_ENV: json.dumps({"iceServers": servers})}) == servers
    with pytest.raises(ConfigError, match="not valid JSON"):
        live.ice_servers_from_env({live.ICE_ENV: "[{"})
    with pytest.raises(ConfigError, match="urls"):
        live.ice_servers_from_env({live.ICE_ENV: '[{"url": "stun:x"}]'})


# ---------------------------------------------------------------------------------------------------
# the recording kept for the result view (annotated video, key frames)


def _marked(k: int, mirrored: bool = False) -> np.ndarray:
    """A camera frame whose white bar sits at a column given by ``k`` (in the camera's un-mirrored view)."""
    rgb = np.zeros((syn.HEIGHT, syn.WIDTH, 3), np.uint8)
    x = 20 + (k * 37) % (syn.WIDTH - 80)
    rgb[:, x:x + 24] = 255
    return rgb[:, ::-1].copy() if mirrored else rgb


def _bar_x(rgb: np.ndarray) -> float:
    cols = np.nonzero(rgb[..., 0].mean(axis=0) > 128)[0]
    return float(cols.mean())


@pytest.mark.parametrize("mirrored_input", [False, True])
def test_recorder_keeps_the_recorded_unmirrored_frames_aligned_with_the_landmarks(tmp_path, mirrored_input):
    from chainscan.io.video import VideoReader

    spec = LiveTest(TestType.DOUBLE_LEG_SQUAT, reps=2)
    stand = standing(5.0)
    seq = stand + pose_frames(syn.make_squat(n_reps=2, valgus_deg=8)) + stand[:60]
    sess = LiveSession(lambda: ListEstimator(seq), draw=False, mirror_preview=False, keep_frames=16,
                       input_mirrored=mirrored_input)
    proto = Protocol(spec)
    rec = live.LiveRecorder(tmp_path / "webcam.mp4")
    for k in range(len(seq)):
        sess.on_frame(_marked(k, mirrored_input), 100.0 + k / 30)
        drained = sess.drain()
        proto.feed_many(drained)
        rec.sync(proto, sess, drained)
        if proto.done:
            break
    assert proto.done
    path = rec.close()
    assert path is not None and path.is_file()
    assert rec.missing == 0 and rec.n_frames == proto.n_recorded          # every recorded sample, in order
    assert [s.index for s in rec.samples] == [s.index for s in proto.recorded]
    assert not sess._kept                                                   # nothing held after the sync
    pose = rec.pose(model=sess.model_name)
    assert list(pose.frame_indices) == list(range(rec.n_frames))
    np.testing.assert_allclose(pose.timestamps, proto.to_pose_sequence().timestamps)
    with VideoReader(path) as reader:
        assert (reader.meta.width, reader.meta.height) == (pose.meta.width, pose.meta.height)
        frames = list(reader.frames())
    assert len(frames) == rec.n_frames
    assert frames[-1].time_s == pytest.approx(pose.timestamps[-1], abs=0.002)   # real time, not 30 fps
    for fr, smp in zip(frames[::7], rec.samples[::7]):
        # the frame of the sample's own index, un-mirrored (the bar where the camera saw it)
        assert _bar_x(fr.rgb) == pytest.approx(_bar_x(_marked(smp.index)), abs=2)
    result = screen_pose(pose, **proto.analysis_kwargs())
    assert result.test is TestType.DOUBLE_LEG_SQUAT
    # the brightness of the recorded frames reaches the lighting gate (the bars: 24 of 320 columns white)
    assert len(pose.extra["luma"]) == pose.n_frames
    (light,) = [g for g in result.quality if g.gate == "lighting"]
    assert light.value == pytest.approx(255 * 24 / syn.WIDTH, abs=4) and not light.passed   # a dark frame


def test_recorder_starts_over_when_the_protocol_goes_back_to_setup(tmp_path):
    proto = Protocol(LiveTest(TestType.DOUBLE_LEG_SQUAT))
    sess = LiveSession(lambda: ListEstimator(standing(1.5) + [None] * 75 + standing(1.0)), draw=False,
                       mirror_preview=False, keep_frames=8)
    rec = live.LiveRecorder(tmp_path / "webcam.mp4")
    wrote_during_countdown = False
    for k in range(45 + 75 + 10):
        sess.on_frame(_marked(k), k / 30)
        drained = sess.drain()
        proto.feed_many(drained)
        rec.sync(proto, sess, drained)
        wrote_during_countdown |= rec.n_frames > 0
    assert wrote_during_countdown and proto.phase is Phase.SETUP
    assert rec.n_frames == 0 and not (tmp_path / "webcam.mp4").exists()    # the void recording is gone
    assert rec.close() is None


def test_recorder_skips_frames_that_are_gone_and_the_session_holds_a_bounded_number():
    sess = LiveSession(lambda: ListEstimator(standing(1.0)), draw=False, mirror_preview=False, keep_frames=3)
    for k in range(10):
        sess.on_frame(_marked(k), k / 30)
    assert list(sess._kept) == [7, 8, 9]                                    # bounded: the oldest went first
    assert sess.take_frame(2) is None and sess.take_frame(8) is not None and sess.take_frame(8) is None
    sess.release_frames(9)
    assert not sess._kept
    with pytest.raises(ValueError):
        LiveSession(keep_frames=-1)
