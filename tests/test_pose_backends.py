"""Pose estimator backends and extraction, with a fake estimator and with bad model files."""

from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from chainscan.cli import app
from chainscan.errors import InsufficientData, PoseModelUnavailable
from chainscan.extract import extract_pose
from chainscan.io.pose import (
    MODEL_ENV,
    MediaPipeBundledPose,
    MediaPipeTaskPose,
    PoseEstimator,
    PoseFrame,
    _to_pixels,
    bundled_model_path,
    make_estimator,
)
from helpers_video import write_clip


class FakePose:
    """Finds a 'person' on every other frame; records the timestamps it was given."""

    name = "fake"

    def __init__(self, every: int = 2) -> None:
        self.times: list[float] = []
        self.every = every
        self.closed = False

    def estimate(self, rgb, time_s):
        self.times.append(time_s)
        if (len(self.times) - 1) % self.every:
            return None
        img = np.zeros((33, 4), np.float32)
        img[:, 0] = np.linspace(10, 100, 33)
        img[:, 1] = np.linspace(10, rgb.shape[0] - 10, 33)
        img[:, 3] = 0.9
        return PoseFrame(img, np.zeros((33, 3), np.float32))

    def detect_still(self, rgb):
        return None

    def close(self):
        self.closed = True


def test_fake_satisfies_protocol_and_bundled_model_exists():
    assert isinstance(FakePose(), PoseEstimator)
    assert bundled_model_path().is_file() and bundled_model_path().name == "pose_landmark_full.tflite"


def test_extract_with_injected_estimator(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n_frames=20, fps=30)
    est = FakePose()
    seen = []
    pose = extract_pose(clip, est, progress=lambda done, total: seen.append((done, total)))
    assert pose.n_frames == 20 and pose.model == "fake"
    assert np.isnan(pose.coords[1]).all() and np.isfinite(pose.coords[0]).all()   # nobody → NaN row
    assert pose.detected.sum() == 10
    np.testing.assert_allclose(pose.timestamps, np.arange(20) / 30, atol=1e-6)
    assert est.times == list(pose.timestamps)
    assert seen[-1] == (20, 20)


class _Nobody(FakePose):
    def estimate(self, rgb, time_s):
        return None


def test_extract_nobody_raises(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n_frames=10, fps=30)
    with pytest.raises(InsufficientData, match="Nobody was found"):
        extract_pose(clip, _Nobody())


def test_to_pixels_converts_once_with_width_and_height():
    lms = [SimpleNamespace(x=0.5, y=0.25, z=-0.1, visibility=0.8)] * 33
    arr = _to_pixels(lms, width=640, height=480)
    assert arr.shape == (33, 4)
    np.testing.assert_allclose(arr[0], [320, 120, -64, 0.8], rtol=1e-6)
    with pytest.raises(PoseModelUnavailable, match="33"):
        _to_pixels(lms[:17], 640, 480)


def test_missing_and_broken_task_files_name_the_path(tmp_path):
    missing = tmp_path / "nope.task"
    with pytest.raises(PoseModelUnavailable, match="nope.task"):
        MediaPipeTaskPose(missing)
    junk = tmp_path / "junk.task"
    junk.write_bytes(b"\x00not a model" * 100)
    with pytest.raises(PoseModelUnavailable, match=r"junk\.task could not be loaded"):
        MediaPipeTaskPose(junk)


def test_env_variable_selects_the_task_model(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "from_env.task"))
    with pytest.raises(PoseModelUnavailable, match="from_env.task"):
        make_estimator()
    monkeypatch.delenv(MODEL_ENV)
    est = make_estimator()
    try:
        assert isinstance(est, MediaPipeBundledPose)
    finally:
        est.close()


def test_cli_bad_model_is_one_line(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n_frames=10, fps=30)
    r = CliRunner().invoke(app, ["screen", str(clip), "--out", str(tmp_path / "o"), "--model",
                                 str(tmp_path / "missing.task")])
    assert r.exit_code == 1
    assert "missing.task" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
