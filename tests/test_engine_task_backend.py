"""The MediaPipe Tasks backend (``--model x.task`` / $CHAINSCAN_POSE_MODEL) through the real
MediaPipeTaskPose class, with PoseLandmarker replaced by a fake that returns canned landmarks (no .task file
can be downloaded here): pixels once, world landmarks kept, visibility, rising millisecond timestamps,
NaN rows when nobody is found, IMAGE mode for the other-people check, everything closed."""

from types import SimpleNamespace

import numpy as np
import pytest

from chainscan.extract import extract_pose
from chainscan.io.pose import MediaPipeTaskPose, make_estimator
from helpers_video import write_clip

vision = pytest.importorskip("mediapipe.tasks.python.vision")

W, H = 160, 120


def _norm(k: int) -> list:
    """33 normalised landmarks that differ per frame ``k``."""
    return [SimpleNamespace(x=0.2 + 0.01 * i, y=0.05 + 0.025 * i + 0.001 * k, z=-0.1 + 0.002 * i,
                            visibility=0.5 + 0.01 * i) for i in range(33)]


def _world(k: int) -> list:
    return [SimpleNamespace(x=0.01 * i - 0.1, y=-0.5 + 0.03 * i, z=0.001 * k, visibility=0.9) for i in range(33)]


class FakeLandmarker:
    made: list["FakeLandmarker"] = []

    def __init__(self, options) -> None:
        self.options = options
        self.video_calls: list[tuple[tuple[int, int], int]] = []
        self.still_calls = 0
        self.closed = False

    @classmethod
    def create_from_options(cls, options):
        inst = cls(options)
        cls.made.append(inst)
        return inst

    def detect_for_video(self, image, timestamp_ms):
        k = len(self.video_calls)
        self.video_calls.append(((image.height, image.width), timestamp_ms))
        if k % 3 == 2:  # nobody in every third frame
            return SimpleNamespace(pose_landmarks=[], pose_world_landmarks=[])
        return SimpleNamespace(pose_landmarks=[_norm(k)], pose_world_landmarks=[_world(k)])

    def detect(self, image):
        self.still_calls += 1
        return SimpleNamespace(pose_landmarks=[], pose_world_landmarks=[])

    def close(self):
        self.closed = True


@pytest.fixture
def fake_landmarker(monkeypatch):
    FakeLandmarker.made = []
    monkeypatch.setattr(vision, "PoseLandmarker", FakeLandmarker)
    return FakeLandmarker


@pytest.fixture
def task_file(tmp_path):
    p = tmp_path / "pose_landmarker_full.task"
    p.write_bytes(b"not read: PoseLandmarker is faked")
    return p


def test_task_backend_converts_landmarks_through_the_real_class(fake_landmarker, task_file, tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n_frames=12, fps=30, width=W, height=H)
    est = MediaPipeTaskPose(task_file)
    assert "pose_landmarker_full.task" in est.name
    video_lm = fake_landmarker.made[0]
    assert video_lm.options.running_mode == vision.RunningMode.VIDEO and video_lm.options.num_poses == 1
    assert video_lm.options.base_options.model_asset_path == str(task_file)
    try:
        pose = extract_pose(clip, est)
    finally:
        est.close()
    assert pose.n_frames == 12 and pose.model == est.name
    # frames are given at their own size, with millisecond timestamps from the container, rising
    sizes = {s for s, _ in video_lm.video_calls}
    ms = [t for _, t in video_lm.video_calls]
    assert sizes == {(H, W)} and len(ms) == 12
    assert np.all(np.diff(ms) > 0)
    np.testing.assert_array_equal(ms, np.round(pose.timestamps * 1000).astype(int))
    for k in range(12):
        if k % 3 == 2:  # nobody found: NaN rows
            assert np.isnan(pose.coords[k]).all() and np.isnan(pose.world[k]).all()
            assert np.isnan(pose.visibility[k]).all()
            continue
        n = _norm(k)
        # converted to pixels exactly once: x·width, y·height, z·width
        np.testing.assert_allclose(pose.coords[k, :, 0], [lm.x * W for lm in n], rtol=1e-6)
        np.testing.assert_allclose(pose.coords[k, :, 1], [lm.y * H for lm in n], rtol=1e-6)
        np.testing.assert_allclose(pose.coords[k, :, 2], [lm.z * W for lm in n], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(pose.visibility[k], [lm.visibility for lm in n], rtol=1e-6)
        # world landmarks kept as they are (metres, hip-centred)
        np.testing.assert_allclose(pose.world[k], [(lm.x, lm.y, lm.z) for lm in _world(k)], rtol=1e-6, atol=1e-7)
    # the other-people check ran in IMAGE mode on its own landmarker, and everything was closed
    still = [m for m in fake_landmarker.made if m.options.running_mode == vision.RunningMode.IMAGE]
    assert len(still) == 1 and still[0].still_calls == pose.extra["other_people_checks"] > 0
    assert pose.extra["other_people_found"] == 0
    assert all(m.closed for m in fake_landmarker.made)


def test_task_backend_timestamps_keep_rising_for_equal_times(fake_landmarker, task_file):
    est = MediaPipeTaskPose(task_file)
    rgb = np.zeros((H, W, 3), np.uint8)
    for t in (0.0, 0.0, 0.0004, 0.010, 0.0101):
        est.estimate(rgb, t)
    est.close()
    assert [t for _, t in fake_landmarker.made[0].video_calls] == [0, 1, 2, 10, 11]


def test_env_variable_reaches_the_task_backend(fake_landmarker, task_file, monkeypatch):
    monkeypatch.setenv("CHAINSCAN_POSE_MODEL", str(task_file))
    est = make_estimator()
    try:
        assert isinstance(est, MediaPipeTaskPose)
        pf = est.estimate(np.zeros((H, W, 3), np.uint8), 0.5)
        assert pf is not None and pf.image.shape == (33, 4) and pf.world.shape == (33, 3)
        assert fake_landmarker.made[0].video_calls[0][1] == 500
    finally:
        est.close()
