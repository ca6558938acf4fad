"""The bundled model without its segmentation head (chainscan.io.trimmed_model): the same landmarks, bit for
bit, from a copy made locally once; anything unexpected falls back to MediaPipe's own graph."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chainscan.io import trimmed_model as tm
from chainscan.io.pose import MediaPipeBundledPose, bundled_model_path
from chainscan.io.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "test_videos" / "single_leg_squat_left_valgus.mp4"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder (and temporary folder) for this test; the module's memo is reset around it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tm.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    memo = tm.trimmed_model
    memo.cache_clear()
    yield tmp_path
    memo.cache_clear()


def _graph(path):
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(Path(path).read_bytes(), 0))
    return m, m.subgraphs[0]


def _op_key(m, op):
    code = m.operatorCodes[op.opcodeIndex]
    return (max(code.builtinCode, code.deprecatedBuiltinCode), tuple(op.inputs), tuple(op.outputs))


def test_the_copy_keeps_every_operator_of_the_four_used_outputs_and_drops_only_the_mask(cache):
    path = tm.trimmed_model(str(bundled_model_path()))
    assert path is not None and path.parent == cache / "cache" / "chainscan"
    m0, g0 = _graph(bundled_model_path())
    m1, g1 = _graph(path)
    out0, out1 = [int(t) for t in g0.outputs], [int(t) for t in g1.outputs]
    # five outputs still (MediaPipe's graph splits them by position); the mask's slot holds the presence score
    assert len(out1) == 5 and out1[2] == out0[1] and [out1[k] for k in (0, 1, 3, 4)] == [out0[k] for k in (0, 1, 3, 4)]
    assert [tuple(g0.tensors[t].shape) for t in out0][2] == (1, 256, 256, 1)
    keys0 = [_op_key(m0, op) for op in g0.operators]
    keys1 = [_op_key(m1, op) for op in g1.operators]
    # the kept operators are the original ones, unchanged and in the original order
    it = iter(keys0)
    assert all(k in it for k in keys1)
    assert 0.7 * len(keys0) < len(keys1) < len(keys0)
    # nothing kept produces the mask, and nothing dropped feeds the four used outputs
    produced = {t for op in g1.operators for t in op.outputs}
    assert out0[2] not in produced
    assert {out0[k] for k in (0, 1, 3, 4)} <= produced
    # the weights are the same bytes
    def data(buffer):
        return np.asarray(buffer.data if buffer.data is not None else [])

    assert len(m0.buffers) == len(m1.buffers)
    assert all(np.array_equal(data(a), data(b)) for a, b in zip(m0.buffers, m1.buffers))


@pytest.mark.model
def test_landmarks_are_bit_identical_to_the_untrimmed_model_on_real_frames(cache):
    with VideoReader(CLIP) as reader:
        frames = [f.rgb for f in reader.frames(max_fps=15)]  # the whole clip: standing, lifting, squatting
    runs = {}
    for trim in (True, False):
        est = MediaPipeBundledPose(trim=trim)
        try:
            assert est.trimmed is trim
            track = [est.estimate(f, 0.0) for f in frames]
            still = [est.detect_still(frames[k]) for k in (0, len(frames) // 2)]
        finally:
            est.close()
        assert all(p is not None for p in track + still)
        runs[trim] = (np.stack([p.image for p in track]), np.stack([p.world for p in track]),
                      np.stack([p.image for p in still]))
    for a, b in zip(runs[True], runs[False]):
        assert np.array_equal(a, b)


def test_the_copy_is_made_once_and_then_reused(cache):
    src = str(bundled_model_path())
    path = tm.trimmed_model(src)
    stamp = path.stat().st_mtime_ns
    tm.trimmed_model.cache_clear()  # a new process
    assert tm.trimmed_model(src) == path and path.stat().st_mtime_ns == stamp
    assert not list(path.parent.glob("*.part"))


def test_an_unwritable_cache_falls_back_to_the_temporary_folder(cache, monkeypatch):
    blocker = cache / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # mkdir under a file fails, even for root
    path = tm.trimmed_model(str(bundled_model_path()))
    assert path is not None and path.parent == cache / "tmp" / f"chainscan-{os.getuid()}"


def test_other_models_and_unreadable_files_are_not_trimmed(cache, tmp_path):
    detector = bundled_model_path().parents[1] / "pose_detection" / "pose_detection.tflite"
    assert tm.trim(detector.read_bytes()) is None  # not the landmark model's five outputs
    assert tm.trimmed_model(str(detector)) is None
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all" * 100)
    assert tm.trimmed_model(str(junk)) is None
    assert tm.trimmed_model(str(tmp_path / "missing.tflite")) is None
    assert not (cache / "cache" / "chainscan").exists() or not list((cache / "cache" / "chainscan").iterdir())


@pytest.mark.model
def test_without_a_copy_or_with_a_broken_one_the_untrimmed_graph_runs(cache, monkeypatch, tmp_path):
    rgb = next(iter(VideoReader(CLIP).frames(max_fps=1))).rgb
    reference = MediaPipeBundledPose(trim=False)
    want = reference.estimate(rgb, 0.0).image
    reference.close()

    monkeypatch.setattr(tm, "trimmed_model", lambda source: None)
    est = MediaPipeBundledPose()
    assert est.trimmed is False and np.array_equal(est.estimate(rgb, 0.0).image, want)
    est.close()

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\0" * 4096)
    monkeypatch.setattr(tm, "trimmed_model", lambda source: broken)
    est = MediaPipeBundledPose()  # the graph does not start with it: MediaPipe's own graph runs instead
    assert est.trimmed is False and np.array_equal(est.estimate(rgb, 0.0).image, want)
    est.close()


@pytest.mark.model
def test_a_damaged_copy_in_the_cache_is_never_loaded_and_is_made_again(cache):
    path = tm.trimmed_model(str(bundled_model_path()))
    good = path.read_bytes()
    path.write_bytes(good[:5000])  # cut short (a full disk, a stray edit): TFLite would crash on it
    tm.trimmed_model.cache_clear()  # a new process
    est = MediaPipeBundledPose()
    assert est.trimmed is True and path.read_bytes() == good
    est.close()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit flipped
    tm.trimmed_model.cache_clear()
    assert tm.trimmed_model(str(bundled_model_path())) == path and path.read_bytes() == good


def test_cache_folders_without_a_home_or_with_a_relative_xdg_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tm.cache_dirs()[0] == tmp_path / ".cache" / "chainscan"

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(tm.Path, "home", staticmethod(no_home))
    dirs = tm.cache_dirs()
    assert len(dirs) == 1 and dirs[0].name.startswith("chainscan-")
