"""Signal cleaning: gaps, zero-lag filtering, spikes, left/right swaps."""

import numpy as np
import pytest

from chainscan import synthetic as syn
from chainscan.config import SignalConfig
from chainscan.landmarks import Landmark as L
from chainscan.signal import clean_pose, fill_gaps, lowpass


def test_fill_gaps_only_short_interior_gaps():
    t = np.arange(60) / 30.0
    x = np.sin(t)[:, None].copy()
    x[10:15] = np.nan          # 5 frames ≈ 0.17 s → filled
    x[30:45] = np.nan          # 15 frames = 0.5 s → stays
    x[:2] = np.nan             # leading → stays
    out = fill_gaps(x, t, 0.25)
    assert np.isfinite(out[10:15]).all()
    np.testing.assert_allclose(out[10:15, 0], np.interp(t[10:15], [t[9], t[15]], [x[9, 0], x[15, 0]]))
    assert np.isnan(out[30:45]).all() and np.isnan(out[:2]).all()


def test_lowpass_is_zero_lag_and_removes_noise():
    fs = 60.0
    t = np.arange(600) / fs
    slow = np.sin(2 * np.pi * 1.0 * t)
    noisy = slow + 0.3 * np.sin(2 * np.pi * 20 * t)
    out = lowpass(noisy[:, None], t, 6.0)[:, 0]
    core = slice(60, -60)
    assert np.max(np.abs(out[core] - slow[core])) < 0.02            # 20 Hz removed, 1 Hz kept
    lag = np.argmax(np.correlate(out[core], slow[core], "full")) - (out[core].size - 1)
    assert lag == 0


def test_lowpass_handles_nan_runs_and_variable_rate():
    t = np.cumsum(np.r_[0, np.full(99, 1 / 30)])
    t[50:] += 0.4                                                  # a time jump (VFR)
    x = np.cos(t)[:, None]
    x[20:23] = np.nan
    out = lowpass(x, t, 6.0)
    assert np.isnan(out[20:23]).all()
    assert np.nanmax(np.abs(out - x)) < 0.02


def test_swapped_leg_labels_are_fixed():
    clip = syn.make_single_leg_stance(swap_legs=(100, 115), noise_px=0.3)
    raw_l = clip.pose.coords[105, L.LEFT_ANKLE, 0]
    assert raw_l == pytest.approx(clip.clean_xy[105, L.RIGHT_ANKLE, 0], abs=3)   # swapped in the input
    cleaned = clean_pose(clip.pose, SignalConfig())
    assert cleaned.swapped["legs"][100:115].all()
    assert not cleaned.swapped["legs"][:95].any() and not cleaned.swapped["legs"][120:].any()
    err = np.abs(cleaned.xy[:, L.LEFT_ANKLE] - clip.clean_xy[:, L.LEFT_ANKLE])
    assert np.nanmax(err) < 5


def test_whole_body_swap_is_fixed_by_continuity():
    clip = syn.make_squat(noise_px=0.3)
    coords = clip.pose.coords.copy()
    from chainscan.landmarks import MIRROR_PERMUTATION
    coords[60:70] = coords[60:70][:, list(MIRROR_PERMUTATION)]
    import dataclasses
    pose = dataclasses.replace(clip.pose, coords=coords)
    cleaned = clean_pose(pose, SignalConfig())
    assert cleaned.swapped["torso"][60:70].all() and cleaned.swapped["legs"][60:70].all()
    assert np.nanmax(np.abs(cleaned.xy[:, L.LEFT_HIP] - clip.clean_xy[:, L.LEFT_HIP])) < 5


def test_spikes_and_low_visibility_become_nan_then_filled():
    clip = syn.make_squat(noise_px=0.3)
    coords = clip.pose.coords.copy()
    vis = clip.pose.visibility.copy()
    coords[80, L.LEFT_KNEE, :2] += 300          # a one-frame jump
    vis[120:123, L.RIGHT_ANKLE] = 0.1           # three low-visibility frames
    import dataclasses
    pose = dataclasses.replace(clip.pose, coords=coords, visibility=vis)
    cleaned = clean_pose(pose, SignalConfig())
    assert not cleaned.measured[80, L.LEFT_KNEE] and not cleaned.measured[121, L.RIGHT_ANKLE]
    assert cleaned.n_spikes + cleaned.n_implausible >= 1
    for f, lm in ((80, L.LEFT_KNEE), (121, L.RIGHT_ANKLE)):
        assert np.abs(cleaned.xy[f, lm] - clip.clean_xy[f, lm]).max() < 5


def test_raw_is_left_untouched():
    clip = syn.make_squat()
    before = clip.pose.coords.copy()
    clean_pose(clip.pose, SignalConfig())
    np.testing.assert_array_equal(before, clip.pose.coords)


def test_stretched_shank_is_dropped_then_filled():
    """Several consecutive frames with an ankle far below the knee (a run the spike filter cannot see)."""
    import dataclasses
    clip = syn.make_squat(noise_px=0.3)
    coords = clip.pose.coords.copy()
    coords[150:156, L.LEFT_ANKLE, 0] += 300   # still inside the picture
    pose = dataclasses.replace(clip.pose, coords=coords)
    cleaned = clean_pose(pose, SignalConfig(max_gap_s=0.3))
    assert cleaned.n_implausible >= 6
    assert not cleaned.measured[150:156, L.LEFT_ANKLE].any()
    assert np.abs(cleaned.xy[150:156, L.LEFT_ANKLE] - clip.clean_xy[150:156, L.LEFT_ANKLE]).max() < 5
    plain = clean_pose(clip.pose, SignalConfig())
    assert plain.n_implausible == 0
