"""`chainscan reanalyse` stays fast: no scipy.signal, no model, no report/plot libraries on its import path;
the numpy filter and peak finder that replace scipy.signal give scipy's numbers."""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal as ss

from chainscan import synthetic as syn
from chainscan.io.pose_file import save_pose
from chainscan.signal import butter2_lowpass, filtfilt2, find_peaks, peak_widths

HEAVY = ("scipy.signal", "scipy.stats", "mediapipe", "cv2", "av", "matplotlib", "reportlab", "svglib", "PIL",
         "streamlit", "rich")

_PROBE = """
import json, sys
from chainscan.cli import main
sys.argv = ["chainscan", "reanalyse", sys.argv[1], "--out", sys.argv[2], "-q"]
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                        and any(m == h or m.startswith(h + ".") for h in HEAVY))))
"""


def test_reanalyse_imports_no_heavy_module(tmp_path):
    pose = tmp_path / "pose.npz"
    save_pose(syn.make_single_leg_squat(valgus_deg=16.0).pose, pose)
    code = f"HEAVY = {HEAVY!r}\n" + _PROBE
    r = subprocess.run([sys.executable, "-c", code, str(pose), str(tmp_path / "out")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out" / "result.json").is_file()


@pytest.mark.parametrize("wn", [0.01, 0.2, 0.5, 0.95])
def test_butterworth_filtfilt_matches_scipy(wn):
    b, a = butter2_lowpass(wn)
    sos = ss.butter(2, wn, btype="low", output="sos")
    np.testing.assert_allclose(np.concatenate([b, a]), sos[0], rtol=1e-12, atol=1e-15)
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(200, 7)), axis=0)
    for n, pad in ((200, 9), (12, 9), (8, 7), (200, 0)):
        np.testing.assert_allclose(filtfilt2(b, a, x[:n], pad), ss.sosfiltfilt(sos, x[:n], axis=0, padlen=pad),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_find_peaks_and_widths_match_scipy(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(400) / 30
    x = np.abs(np.sin(t * rng.uniform(0.5, 2))) * rng.uniform(0.5, 1.5) + rng.normal(0, 0.05, t.size)
    x[50:60] = x[50]  # a plateau
    x = np.round(x, 2)  # ties and flat tops
    for prom, dist in ((0.1, 20), (0.3, 1), (0.02, 5)):
        mine, props = find_peaks(x, prominence=prom, distance=dist)
        ref, rprops = ss.find_peaks(x, prominence=prom, distance=dist)
        np.testing.assert_array_equal(mine, ref)
        for k in ("prominences", "left_bases", "right_bases"):
            np.testing.assert_allclose(props[k], rprops[k])
        if ref.size:
            data = (props["prominences"], props["left_bases"], props["right_bases"])
            for got, want in zip(peak_widths(x, mine, 0.8, data), ss.peak_widths(x, ref, rel_height=0.8,
                                                                                   prominence_data=data)):
                np.testing.assert_allclose(got, want)
