#!/usr/bin/env python3
"""Render a grid of short benchmark clips (bodies x tests x targets x camera conditions).

Usage (renderer venv, see tools/render/README.md):

    python tools/render/render_grid.py                      # whole grid -> /work/bench-clips/
    python tools/render/render_grid.py --only 'B_std_*' --jobs 2
    python tools/render/render_grid.py --list               # just print the grid

Each clip is NAME.mp4 + NAME.gt.json with exactly the ground-truth format of the committed
sample clips (test_videos/README.md), plus a top-level "scenario" (grid parameters) and
"split" ("fit" / "holdout").  OUT/index.json lists the clips.  Deterministic: every clip's
sway, light, background and noise come from a seed derived from its name.  Existing clips
are skipped unless --force.

Targets are defined in the STANDARD camera (3 m, 0.95 m high, level, square, f = 1012.5 px):
the knee FPPA (joint centres) at the deepest single-leg-squat frames, and the mean pelvic
obliquity / trunk lean (joint centres) over the stance hold.  The camera-condition clips
(body B) reuse exactly the same 3D motion as with the standard camera, so their image ground
truth (frames[].knee_fppa_* etc.) shows what that camera does to the angles; each of their
frames also carries "standard_camera" (the same metrics seen by the standard camera).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FPS = 30
WIDTH, HEIGHT = 540, 960
STD_FOCAL = 1012.5
GRID_SEED = 20240917

# ----------------------------------------------------------------------------- grid definition
BODIES = {
    "A": dict(desc="small woman (~1.60 m, light)",
              phenotype=dict(gender=1.0, age=0.45, muscle=0.4, weight=0.35, height=0.592, proportions=0.5),
              colors=dict(skin=(0.86, 0.66, 0.55), shorts=(0.09, 0.10, 0.16), hair=(0.30, 0.18, 0.09)),
              shirt=(0.68, 0.22, 0.36), stance_half_width=0.11),
    "B": dict(desc="average man (~1.78 m)",
              phenotype=dict(gender=0.0, age=0.5, muscle=0.55, weight=0.5, height=0.592, proportions=0.5),
              colors=dict(skin=(0.76, 0.55, 0.43), shorts=(0.16, 0.17, 0.20)),
              shirt=(0.14, 0.40, 0.30), stance_half_width=0.13),
    "C": dict(desc="tall heavier man (~1.85 m, higher weight)",
              phenotype=dict(gender=0.0, age=0.55, muscle=0.6, weight=0.75, height=0.594, proportions=0.5),
              colors=dict(skin=(0.55, 0.38, 0.28), shorts=(0.07, 0.07, 0.08), hair=(0.05, 0.04, 0.04)),
              shirt=(0.55, 0.56, 0.58), stance_half_width=0.14),
}

# Camera conditions: (focal px, horizontal distance m, height m, yaw deg, pitch aimed at AIM_Z?)
AIM_Z = 0.9  # pitched cameras aim at this height on the subject's vertical
CAMERAS = {
    "std": dict(desc="standard: 3 m, 0.95 m high, level, square, f=1012.5 px", focal=STD_FOCAL, dist=3.0, height=0.95, yaw=0.0, aim=False),
    "h050": dict(desc="camera 0.5 m high, pitched up to keep the body centred", focal=STD_FOCAL, dist=3.0, height=0.5, yaw=0.0, aim=True),
    "h130": dict(desc="camera 1.3 m high, pitched down to keep the body centred", focal=STD_FOCAL, dist=3.0, height=1.3, yaw=0.0, aim=True),
    "d220": dict(desc="camera 2.2 m away (level)", focal=STD_FOCAL, dist=2.2, height=0.95, yaw=0.0, aim=False),
    "d400": dict(desc="camera 4.0 m away (level)", focal=STD_FOCAL, dist=4.0, height=0.95, yaw=0.0, aim=False),
    "yaw15": dict(desc="camera moved 15 deg round to the subject's right on a 3 m circle, looking at the subject (oblique view; subject faces -y)",
                  focal=STD_FOCAL, dist=3.0, height=0.95, yaw=15.0, aim=False),
    "yaw30": dict(desc="camera moved 30 deg round to the subject's right on a 3 m circle, looking at the subject (oblique view; subject faces -y)",
                  focal=STD_FOCAL, dist=3.0, height=0.95, yaw=30.0, aim=False),
    "wide": dict(desc="wide lens f=600 px, moved closer (1.78 m) so the body fills the frame like the standard camera",
                 focal=600.0, dist=3.0 * 600.0 / STD_FOCAL, height=0.95, yaw=0.0, aim=False),
}

WALLS = [(0.80, 0.78, 0.74), (0.70, 0.74, 0.78), (0.86, 0.84, 0.79), (0.60, 0.61, 0.60), (0.78, 0.71, 0.60),
         (0.66, 0.72, 0.66)]
FLOORS = [(0.62, 0.50, 0.38), (0.45, 0.34, 0.25), (0.56, 0.56, 0.55), (0.72, 0.64, 0.52), (0.36, 0.38, 0.42),
          (0.50, 0.42, 0.36)]


def scenarios():
    """The whole grid as a list of dicts (deterministic order)."""
    out = []

    def add(body, cam, test, side, fppa=None, drop=None, lean=None):
        if test == "neutral_standing":
            name = f"{body}_{cam}_neutral"
        elif test == "single_leg_squat":
            name = f"{body}_{cam}_sls_{side}_fppa{fppa:02d}"
        elif test == "single_leg_stance":
            name = f"{body}_{cam}_stance_{side}_drop{drop}_lean{lean}"
        else:
            name = f"{body}_{cam}_dls"
        split = "fit" if (cam == "std" and body in ("A", "B")) else "holdout"
        out.append(dict(name=name, body=body, camera=cam, test=test, stance_side=side,
                        target_fppa_deg=fppa, target_drop_deg=drop, target_lean_deg=lean, split=split))

    for b in BODIES:
        for f in (0, 8, 16):
            add(b, "std", "single_leg_squat", "left", fppa=f)
        add(b, "std", "single_leg_squat", "right", fppa=12)
        for d, l in ((0, 0), (4, 6), (8, 3)):
            add(b, "std", "single_leg_stance", "right", drop=d, lean=l)
        add(b, "std", "single_leg_stance", "left", drop=6, lean=4)
        add(b, "std", "double_leg_squat", None)
    for c in ("h050", "h130", "d220", "d400", "yaw15", "yaw30", "wide"):
        add("B", c, "single_leg_squat", "left", fppa=12)
        add("B", c, "single_leg_stance", "right", drop=6, lean=4)
    # Added later (appended, so the clips above keep their names, seeds and bytes): quiet standing for a
    # false-positive check, and more truth levels in the camera conditions that distort the most, so
    # slope and r can be computed per camera condition.
    for b in ("A", "C"):
        add(b, "std", "neutral_standing", None)
    for c in ("yaw15", "yaw30", "h050"):
        for f in (0, 20):
            add("B", c, "single_leg_squat", "left", fppa=f)
    for d, ln in ((0, 0), (10, 2)):
        add("B", "yaw30", "single_leg_stance", "right", drop=d, lean=ln)
    return out


def seed_of(name, salt=""):
    return int(hashlib.sha256(f"{GRID_SEED}:{name}:{salt}".encode()).hexdigest()[:8], 16)


def look_for(name):
    """Seeded light / background per clip."""
    rng = np.random.default_rng(seed_of(name, "look"))
    lx = float(rng.uniform(-0.75, 0.75))
    el = float(rng.uniform(0.55, 1.25))
    key = float(rng.uniform(0.55, 0.85))
    fill = float(rng.uniform(0.12, 0.30))
    sky = float(rng.uniform(0.36, 0.50))
    ground = float(rng.uniform(0.16, 0.28))
    wi = int(rng.integers(len(WALLS)))
    fi = int(rng.integers(len(FLOORS)))
    return {
        "key_dir": (round(lx, 3), -0.75, round(el, 3)),
        "fill_dir": (round(-math.copysign(0.7, lx), 3), -0.6, 0.25),
        "key": round(key, 3), "fill": round(fill, 3), "sky": round(sky, 3), "ground": round(ground, 3),
        "wall": WALLS[wi], "skirting": (0.93, 0.92, 0.90), "floor": FLOORS[fi],
        "plank_width": float(rng.choice([0.12, 0.16, 0.20])), "vignette": round(float(rng.uniform(0.2, 0.4)), 3),
        "look_id": f"wall{wi}_floor{fi}",
    }


# ----------------------------------------------------------------------------- rendering
_BODY_CACHE = {}


def get_body(rc, bid, variant):
    key = (bid, variant["skinning"], variant["cloth"])
    if key not in _BODY_CACHE:
        spec = BODIES[bid]
        body = rc.Body(spec["phenotype"], shirt=spec["shirt"], skinning=variant["skinning"], colors=spec["colors"],
                       clothing_geometry=variant["cloth"])
        rig = rc.Rig(body, stance_half_width=spec["stance_half_width"])
        _BODY_CACHE[key] = (body, rig)
    return _BODY_CACHE[key]


def make_cam(raster, cid):
    c = CAMERAS[cid]
    yaw = c["yaw"]
    d = c["dist"]
    pos = [-d * math.sin(math.radians(yaw)), -d * math.cos(math.radians(yaw)), c["height"]]
    pitch = math.degrees(math.atan2(AIM_Z - c["height"], d)) if c["aim"] else 0.0
    return raster.Camera(WIDTH, HEIGHT, c["focal"], pos, yaw_deg=yaw, pitch_deg=round(pitch, 4))


# Timing of the motions (s).  Every clip starts with 1.2 s of quiet standing.
SLS = dict(n=int(7.0 * FPS), lift_t=1.7, down_t=6.2, reps_t=[(2.4, 3.2, 4.0), (4.1, 4.9, 5.7)], depth=60.0)
STANCE = dict(n=int(6.8 * FPS), lift_t=1.7, down_t=5.9)
DLS = dict(n=int(6.6 * FPS), reps_t=[(1.2, 2.3, 3.4), (3.7, 4.8, 5.9)], depth=90.0)
NEUTRAL = dict(n=int(6.0 * FPS), neutral_s=1.2)


def build_motion(rc, sc, body, rig, std_cam):
    """PoseSpecs + meta for one scenario; targets are hit in the standard camera."""
    test, side = sc["test"], sc["stance_side"]
    if test == "single_leg_squat":
        P = SLS
        target = float(sc["target_fppa_deg"])

        def fppa_at(sw):
            specs, depth = rc.single_leg_squat_specs(rig, P["n"], side, P["reps_t"], P["lift_t"], P["down_t"],
                                                     P["depth"], sw)
            k = int(np.argmax(depth))
            Q, r = rc.solve(body, specs[k])
            hd = body.fk_heads(Q, r)
            p2 = {j: std_cam.project(hd[body.J[f"{side}_{j}"]])[0] for j in ("hip", "knee", "ankle")}
            return rc.fppa(p2["hip"], p2["knee"], p2["ankle"], side)

        lo, hi = -45.0, 75.0
        assert fppa_at(lo) < target < fppa_at(hi), (sc["name"], fppa_at(lo), fppa_at(hi))
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if fppa_at(mid) < target:
                lo = mid
            else:
                hi = mid
        swivel = 0.5 * (lo + hi)
        specs, depth = rc.single_leg_squat_specs(rig, P["n"], side, P["reps_t"], P["lift_t"], P["down_t"],
                                                 P["depth"], swivel)
        meta = dict(test=test, stance_side=side, view="frontal", depth=depth, reps_t=P["reps_t"], swivel_deg=swivel)
    elif test == "single_leg_stance":
        P = STANCE
        free = "left" if side == "right" else "right"
        # Signed targets in the ground-truth conventions (+ obliquity = LEFT hip lower,
        # + lean = shoulders towards the subject's LEFT).
        ob_t = float(sc["target_drop_deg"]) * (1.0 if free == "left" else -1.0)
        le_t = float(sc["target_lean_deg"]) * (-1.0 if side == "right" else 1.0)
        hold = [i for i in range(P["n"]) if P["lift_t"] + 0.9 <= i / FPS <= P["down_t"] - 0.7]
        sway_seed = seed_of(sc.get("seed_name", sc["name"]), "sway")

        def means(drop, lean):
            specs = rc.stance_specs(rig, P["n"], side, P["lift_t"], P["down_t"], drop, lean, sway_seed)
            ob, le = [], []
            for k in hold[::2]:
                Q, r = rc.solve(body, specs[k])
                hd = body.fk_heads(Q, r)
                p2 = {j: std_cam.project(hd[body.J[j]])[0] for j in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")}
                d = rc.obliquity_lean(p2)
                ob.append(d["pelvic_obliquity_deg"])
                le.append(d["trunk_lean_deg"])
            return float(np.mean(ob)), float(np.mean(le))

        drop, lean = float(sc["target_drop_deg"]), float(sc["target_lean_deg"])
        s_ob = 1.0 if free == "left" else -1.0
        s_le = -1.0 if side == "right" else 1.0
        for _ in range(8):
            ob, le = means(drop, lean)
            drop += (ob_t - ob) * s_ob
            lean += (le_t - le) * s_le
        specs = rc.stance_specs(rig, P["n"], side, P["lift_t"], P["down_t"], drop, lean, sway_seed)
        meta = dict(test=test, stance_side=side, view="frontal", depth=np.zeros(P["n"]), reps_t=[],
                    drop_param_deg=drop, lean_param_deg=lean, hold_frames=[hold[0], hold[-1]],
                    target_obliquity_deg=ob_t, target_trunk_lean_deg=le_t)
    elif test == "neutral_standing":
        # quiet standing on both feet for the whole clip (small seeded sway, arm and head movement)
        P = NEUTRAL
        specs = rc.standing_specs(rig, P["n"], seed_of(sc.get("seed_name", sc["name"]), "sway"), 0.0)
        meta = dict(test=test, stance_side=None, view="frontal", depth=np.zeros(P["n"]), reps_t=[])
    else:
        P = DLS
        specs, depth = rc.double_leg_squat_specs(rig, P["n"], P["reps_t"], P["depth"])
        meta = dict(test="double_leg_squat", stance_side=None, view="frontal", depth=depth, reps_t=P["reps_t"])
    return specs, meta


def grid_checks(sc, gt, meta):
    fr = gt["frames"]
    j = fr[0]["joints_2d"]
    assert j["left_hip"][0] > j["right_hip"][0], "left hip must be on the image right"
    assert j["left_shoulder"][1] < j["left_hip"][1] < j["left_knee"][1] < j["left_ankle"][1]
    for k in range(len(fr)):
        for p in fr[k]["joints_2d"].values():
            assert -5 < p[0] < WIDTH + 5 and -5 < p[1] < HEIGHT + 5, (sc["name"], k, p)
    std = sc["camera"] == "std"
    if sc["test"] == "single_leg_squat":
        side = sc["stance_side"]
        for rp in gt["reps"]:
            k = rp["deepest_frame"]
            val = fr[k][f"knee_fppa_{side}_deg"] if std else fr[k]["standard_camera"][f"knee_fppa_{side}_deg"]
            assert abs(val - sc["target_fppa_deg"]) < 0.05, (sc["name"], val)
            assert 55 < rp["knee_flexion_deg_at_deepest"] < 65, rp
        assert len(gt["reps"]) == 2
    elif sc["test"] == "single_leg_stance":
        a, b = meta["hold_frames"]
        key = (lambda k, m: fr[k][m]) if std else (lambda k, m: fr[k]["standard_camera"][m])
        ob = np.mean([key(k, "pelvic_obliquity_deg") for k in range(a, b + 1)])
        le = np.mean([key(k, "trunk_lean_deg") for k in range(a, b + 1)])
        assert abs(ob - meta["target_obliquity_deg"]) < 0.1 and abs(le - meta["target_trunk_lean_deg"]) < 0.1, (sc["name"], ob, le)
        sp = gt["stance_period"]
        assert (sp["end_frame"] - sp["start_frame"]) / FPS > 3.8, sp
    elif sc["test"] == "neutral_standing":
        assert not gt["reps"] and gt["stance_period"] is None
        assert max(abs(f["pelvic_obliquity_deg"]) for f in fr) < 1.0
        assert max(abs(f["trunk_lean_deg"]) for f in fr) < 1.0
    else:
        assert len(gt["reps"]) == 2
        for rp in gt["reps"]:
            assert 85 < rp["knee_flexion_deg_at_deepest"] < 95, rp
    assert gt["neutral_frames"][1] >= 30, gt["neutral_frames"]


def render_one(sc, out: Path, variant, ssaa=1, png_dir=None, png_every=None, force=False, preview=False):
    import raster
    import render_clips as rc

    name = sc["name"]
    mp4, js = out / f"{name}.mp4", out / f"{name}.gt.json"
    if mp4.exists() and js.exists() and not force and png_dir is None:
        return {"name": name, "skipped": True}
    t0 = time.time()
    body, rig = get_body(rc, sc["body"], variant)
    std_cam = make_cam(raster, "std")
    cam = make_cam(raster, sc["camera"])
    specs, meta = build_motion(rc, sc, body, rig, std_cam)
    gen = f"tools/render/render_grid.py (anny body model, numba rasterizer; variant {variant['id']})"
    gt, ctx = rc.clip_ground_truth(name, specs, meta, body, None, cam, generator=gen)
    if sc["test"] == "neutral_standing":
        # the whole clip is quiet standing; the first 1.2 s serve as the neutral baseline like in the other
        # clips, and every later frame should read as neutral too (the false-positive check)
        gt["neutral_frames"] = [0, int(NEUTRAL["neutral_s"] * FPS) - 1]
    if sc["camera"] != "std":
        p3 = rc.joints_from(body, ctx["heads"], ctx["verts"])
        for k, fr in enumerate(gt["frames"]):
            pk3 = {j: p3[j][k] for j in rc.JOINTS}
            pk2 = {j: std_cam.project(pk3[j])[0] for j in rc.JOINTS}
            d = rc.derived(pk2, pk3)
            fr["standard_camera"] = {m: round(d[m], 3) for m in ("knee_fppa_left_deg", "knee_fppa_right_deg",
                                                                  "pelvic_obliquity_deg", "trunk_lean_deg")}
    sname = sc.get("seed_name", name)  # clips rendered as variants of one scenario share the seeds
    look = look_for(sname)
    cdef = CAMERAS[sc["camera"]]
    bdef = BODIES[sc["body"]]
    gt["scenario"] = {
        "body_id": sc["body"], "body_desc": bdef["desc"],
        "camera_id": sc["camera"], "camera_desc": cdef["desc"],
        "test": sc["test"], "stance_side": sc["stance_side"],
        "target_fppa_deg": sc["target_fppa_deg"],
        "target_fppa_definition": None if sc["target_fppa_deg"] is None else
        "joint-centre knee FPPA of the stance knee at every deepest frame, in the STANDARD camera",
        "target_drop_deg": sc["target_drop_deg"], "target_lean_deg": sc["target_lean_deg"],
        "target_drop_lean_definition": None if sc["target_drop_deg"] is None else
        "contralateral pelvic drop and lateral trunk lean TOWARDS the stance leg, both >= 0; mean over the hold "
        "frames of the joint-centre pelvic_obliquity_deg / trunk_lean_deg in the STANDARD camera "
        "(signed: target_obliquity_deg, target_trunk_lean_deg)",
        "target_obliquity_deg": meta.get("target_obliquity_deg"),
        "target_trunk_lean_deg": meta.get("target_trunk_lean_deg"),
        "hold_frames": meta.get("hold_frames"),
        "look_id": look["look_id"],
        "light": {k: look[k] for k in ("key_dir", "fill_dir", "key", "fill", "sky", "ground")},
        "background": {k: look[k] for k in ("wall", "floor", "plank_width")},
        "renderer_variant": variant["id"], "skinning": variant["skinning"], "clothing_geometry": variant["cloth"],
        "ssaa": ssaa,
        "seed": seed_of(sname),
    }
    gt["split"] = sc["split"]
    grid_checks(sc, gt, meta)
    t_gt = time.time() - t0
    verts = body.dress(ctx["verts"], ctx["Qs"])
    scene = raster.Scene(cam, scale=ssaa, seed=seed_of(sname, "scene"),
                         look={k: v for k, v in look.items() if k != "look_id"})
    rng_noise = np.random.default_rng(seed_of(sname, "noise"))
    n = len(specs)
    want = set()
    if png_dir is not None:
        want = {gt["neutral_frames"][1] // 2}
        want |= {rp["deepest_frame"] for rp in gt["reps"][:1]}
        if gt["stance_period"]:
            sp = gt["stance_period"]
            want.add((sp["start_frame"] + sp["end_frame"]) // 2)
        if png_every:
            want |= set(range(0, n, png_every))

    def frames_iter(only_png=False):
        for k in range(n):
            if only_png and k not in want:
                continue
            img = scene.render([(verts[k], body.faces, body.albedo)])
            noise = rng_noise.normal(0.0, 1.6, size=img.shape)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            if k in want:
                from PIL import Image

                Image.fromarray(img).save(Path(png_dir) / f"{name}_{k:04d}.png")
            yield img

    t1 = time.time()
    if png_dir is not None and (preview or (not force and mp4.exists() and js.exists())):
        for _ in frames_iter(only_png=True):
            pass
        return {"name": name, "png_only": True}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{name}.tmp.mp4"
    rc.encode(frames_iter(), tmp, n)
    os.replace(tmp, mp4)
    with open(js, "w") as f:
        json.dump(gt, f, separators=(",", ":"))
    t_r = time.time() - t1
    msg = (f"{name}: {n} frames, pose+GT {t_gt:.1f}s, render+encode {t_r:.1f}s ({t_r / n:.3f} s/frame), "
           f"{os.path.getsize(mp4) / 1e3:.0f} kB")
    print(msg, flush=True)
    return {"name": name, "seconds": time.time() - t0}


VARIANTS = {
    # The committed sample clips: linear blend skinning, clothes painted on the skin.
    "lbs_paint": dict(id="lbs_paint", skinning="lbs", cloth=False),
    "dqs_paint": dict(id="dqs_paint", skinning="dqs", cloth=False),
    "lbs_cloth": dict(id="lbs_cloth", skinning="lbs", cloth=True),
    # Dual-quaternion skinning + clothes/shoes with some geometry.
    "dqs_cloth": dict(id="dqs_cloth", skinning="dqs", cloth=True),
}
DEFAULT_VARIANT = "dqs_cloth"


def _worker(args):
    sc, out, variant, ssaa, png, png_every, force, preview = args
    import torch

    torch.set_num_threads(1)
    try:
        return render_one(sc, Path(out), variant, ssaa, png, png_every, force, preview)
    except Exception as e:  # report, keep the other clips going
        import traceback

        traceback.print_exc()
        return {"name": sc["name"], "error": repr(e)}


def write_index(out: Path, grid):
    rows = []
    for sc in grid:
        js = out / f"{sc['name']}.gt.json"
        if not (js.exists() and (out / f"{sc['name']}.mp4").exists()):
            continue
        gt = json.loads(js.read_text())
        rows.append({"name": sc["name"], "video": f"{sc['name']}.mp4", "ground_truth": f"{sc['name']}.gt.json",
                     "split": gt["split"], "test": gt["test"], "stance_side": gt["stance_side"],
                     "n_frames": gt["n_frames"], "scenario": gt["scenario"]})
    idx = {"generator": "tools/render/render_grid.py", "n_clips": len(rows), "grid_size": len(grid),
           "bodies": {k: {"desc": v["desc"], "phenotype": v["phenotype"]} for k, v in BODIES.items()},
           "cameras": {k: v["desc"] for k, v in CAMERAS.items()},
           "clips": rows}
    (out / "index.json").write_text(json.dumps(idx, indent=1))
    return len(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/bench-clips", help="output folder (keep it outside the repo)")
    ap.add_argument("--only", nargs="*", default=None, help="glob pattern(s) on clip names, e.g. 'B_std_*'")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="re-render clips that already exist")
    ap.add_argument("--ssaa", type=int, default=1, help="supersampling factor (1 = fast)")
    ap.add_argument("--variant", default=DEFAULT_VARIANT, choices=sorted(VARIANTS),
                    help=f"renderer variant (default {DEFAULT_VARIANT})")
    ap.add_argument("--frames-png", default=None, help="also save a few frames as PNG here")
    ap.add_argument("--png-every", type=int, default=None)
    ap.add_argument("--preview", action="store_true", help="only render the PNG frames (needs --frames-png)")
    ap.add_argument("--list", action="store_true", help="print the grid and exit")
    args = ap.parse_args(argv)
    os.environ.setdefault("ANNY_CACHE_DIR", "/work/anny-cache")
    grid = scenarios()
    sel = grid
    if args.only:
        sel = [s for s in grid if any(fnmatch.fnmatch(s["name"], p) for p in args.only)]
    if args.list:
        for s in sel:
            print(s["name"], s["split"])
        print(len(sel), "clips")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.frames_png:
        Path(args.frames_png).mkdir(parents=True, exist_ok=True)
    variant = VARIANTS[args.variant]
    t = time.time()
    if args.preview and not args.frames_png:
        ap.error("--preview needs --frames-png")
    todo = [(s, str(out), variant, args.ssaa, args.frames_png, args.png_every, args.force, args.preview) for s in sel]
    if args.jobs > 1 and len(todo) > 1:
        import multiprocessing as mpc

        # Keep bodies of one shape in the same worker (model set-up is cached per process).
        todo.sort(key=lambda a: (a[0]["body"], a[0]["name"]))
        with mpc.get_context("spawn").Pool(args.jobs) as pool:
            res = list(pool.imap_unordered(_worker, todo, chunksize=1))
    else:
        res = [_worker(a) for a in todo]
    errs = [r for r in res if "error" in r]
    n_idx = write_index(out, grid)
    print(f"{len(res) - len(errs)} ok ({sum(1 for r in res if r.get('skipped'))} skipped), {len(errs)} failed; "
          f"index {n_idx}/{len(grid)} clips; wall {time.time() - t:.1f}s", flush=True)
    if errs:
        sys.exit(1)


if __name__ == "__main__":
    main()
