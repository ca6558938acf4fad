#!/usr/bin/env python3
"""Renderer-vs-model experiment for the pelvis (renderer venv).

Renders body B, standard camera, single-leg stance on the RIGHT leg with a contralateral pelvic
drop of 0 / 6 / 10 deg (trunk lean 4 deg towards the stance leg) with each renderer variant
(linear-blend vs dual-quaternion skinning, painted clothes vs clothes/shoes with geometry) into
OUT (default /work/bench-clips/pelvis-experiment).  Then run, in the project venv,
    .venv/bin/python tools/render/bench_mediapipe.py --videos OUT --pelvis
to compare MediaPipe's hip line with the ground truth.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_grid as rg  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/work/bench-clips/pelvis-experiment")
    ap.add_argument("--variants", nargs="*", default=["lbs_paint", "dqs_paint", "lbs_cloth", "dqs_cloth"])
    ap.add_argument("--drops", nargs="*", type=int, default=[0, 6, 10])
    ap.add_argument("--bodies", nargs="*", default=["B"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ssaa", type=int, default=1)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    todo = []
    for v in a.variants:
        for b in a.bodies:
            for d in a.drops:
                sc = dict(name=f"px_{v}_{b}_stance_right_drop{d}_lean4", body=b, camera="std", test="single_leg_stance",
                          stance_side="right", target_fppa_deg=None, target_drop_deg=d, target_lean_deg=4,
                          split="experiment", seed_name=f"px_{b}_stance_right_drop{d}_lean4")
                todo.append((sc, a.out, rg.VARIANTS[v], a.ssaa, None, None, a.force, False))
    import multiprocessing as mpc

    with mpc.get_context("spawn").Pool(a.jobs) as pool:
        for r in pool.imap_unordered(rg._worker, todo):
            print(r, flush=True)


if __name__ == "__main__":
    main()
