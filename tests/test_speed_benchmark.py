"""benchmarks/speed.py runs end to end on a short clip and writes its report (CI checks it runs; the
numbers themselves are a benchmark, not a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.model
def test_speed_benchmark_runs_on_a_short_clip(tmp_path):
    out = tmp_path / "performance.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--short", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    for needle in ("**Machine:**", "naive loop", "| run | wall time (s) | frames/s | × real time | ratio to naive",
                   "at most 30 fps", "Agreement with the every-frame", "s per minute of video", "peak RSS",
                   "Per analysed frame"):
        assert needle in text, needle
    assert "frames/s" in proc.stdout and "x real time" in proc.stdout
