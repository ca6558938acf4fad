"""PoseSequence validation, config layering and immutability."""

import dataclasses

import numpy as np
import pytest

from chainscan.config import DEFAULT_THRESHOLDS, HEURISTIC, ScreeningConfig
from chainscan.errors import ConfigError
from chainscan.types import PoseSequence, VideoMeta


def _pose(n=5, **over):
    kw = dict(coords=np.zeros((n, 33, 3), np.float32), visibility=np.ones((n, 33), np.float32),
              world=np.zeros((n, 33, 3), np.float32), timestamps=np.arange(n, dtype=np.float64) / 30,
              frame_indices=np.arange(n, dtype=np.int64), meta=VideoMeta("x.mp4", 640, 480, 30.0))
    kw.update(over)
    return PoseSequence(**kw)


def test_pose_sequence_valid_and_frozen():
    p = _pose()
    assert p.n_frames == 5 and p.fps == pytest.approx(30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.model = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        p.coords[0, 0, 0] = 1.0  # arrays are read-only


@pytest.mark.parametrize("field,value,needle", [
    ("coords", np.zeros((5, 32, 3), np.float32), "coords: expected shape (5, 33, 3)"),
    ("coords", np.zeros((5, 33, 3), np.float64), "coords: expected dtype float32"),
    ("visibility", np.zeros((4, 33), np.float32), "visibility: expected shape"),
    ("timestamps", np.array([0, 0.1, 0.1, 0.2, 0.3]), "strictly increasing"),
    ("timestamps", np.array([0, 0.1, np.nan, 0.2, 0.3]), "finite"),
    ("frame_indices", np.array([0, 1, 1, 2, 3], np.int64), "frame_indices"),
    ("meta", "not meta", "meta: expected VideoMeta"),
])
def test_pose_sequence_rejects_bad_fields(field, value, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _pose(**{field: value})


def test_video_meta_validation():
    with pytest.raises(ValueError, match="fps"):
        VideoMeta("x", 10, 10, 0.0)
    with pytest.raises(ValueError, match="rotation"):
        VideoMeta("x", 10, 10, 30.0, rotation_deg=45)


def test_every_threshold_has_a_source():
    for t in DEFAULT_THRESHOLDS:
        assert t.reference == HEURISTIC or t.reference.startswith("heuristic") or any(
            ch.isdigit() for ch in t.reference), t.name
        assert t.unit and t.description


def test_overrides_make_a_new_config_and_leave_the_default_alone():
    base = ScreeningConfig()
    new = base.with_overrides({"thresholds": {"fppa_sls_mild": 12}, "signal": {"cutoff_hz": 4}})
    assert new.threshold("fppa_sls_mild") == 12 and new.signal.cutoff_hz == 4
    assert "overridden" in new.thresholds["fppa_sls_mild"].reference
    assert base.threshold("fppa_sls_mild") == 13.5 and base.signal.cutoff_hz == 6
    assert ScreeningConfig().threshold("fppa_sls_mild") == 13.5
    with pytest.raises(TypeError):
        new.thresholds["fppa_sls_mild"] = None  # type: ignore[index]


@pytest.mark.parametrize("over,needle", [
    ({"thresholds": {"nope": 1}}, "Unknown threshold 'nope'"),
    ({"signal": {"nope": 1}}, "Unknown setting 'signal.nope'"),
    ({"colour": {}}, "Unknown config section"),
    ({"thresholds": {"fppa_sls_mild": "high"}}, "must be a number"),
    ({"signal": {"min_visibility": 2}}, "between 0 and 1"),
    ({"signal": {"cutoff_hz": 0}}, "cutoff_hz"),
])
def test_bad_overrides(over, needle):
    with pytest.raises(ConfigError, match=needle):
        ScreeningConfig().with_overrides(over)


def test_toml_and_roundtrip(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[thresholds]\npelvic_drop_mild = 5.0\n[segmentation]\nmin_rep_depth = 0.1\n")
    cfg = ScreeningConfig.from_toml(f)
    assert cfg.threshold("pelvic_drop_mild") == 5 and cfg.segmentation.min_rep_depth == 0.1
    again = ScreeningConfig.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    bad = tmp_path / "bad.toml"
    bad.write_text("[thresholds\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ScreeningConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        ScreeningConfig.from_toml(tmp_path / "missing.toml")
