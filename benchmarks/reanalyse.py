"""Benchmark: re-analysis of a stored PoseSequence (no model). Prints numbers; not a test.

    .venv/bin/python benchmarks/reanalyse.py [POSE.npz ...]

Without arguments it times synthetic clips of 10 s and 60 s (30 fps) of single-leg squats.
"""

from __future__ import annotations

import sys
import time

from chainscan import synthetic as syn
from chainscan.io.pose_file import load_pose
from chainscan.pipeline import screen_pose


def bench(pose, label: str, repeat: int = 5) -> None:
    screen_pose(pose)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        screen_pose(pose)
        times.append(time.perf_counter() - t0)
    dur = pose.timestamps[-1] - pose.timestamps[0]
    best = min(times)
    print(f"{label:45s} {pose.n_frames:6d} frames {dur:7.1f} s video  best {best * 1000:7.1f} ms  "
          f"= {best / (dur / 60):.3f} s per minute of video")


def main() -> None:
    if len(sys.argv) > 1:
        for p in sys.argv[1:]:
            bench(load_pose(p), p)
        return
    for n_reps in (3, 24):
        clip = syn.make_single_leg_squat(n_reps=n_reps)
        bench(clip.pose, f"synthetic single-leg squat, {n_reps} reps")


if __name__ == "__main__":
    main()
