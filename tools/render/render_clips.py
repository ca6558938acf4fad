#!/usr/bin/env python3
"""Render chainscan's sample clips of a posed `anny` body with exact ground truth.

Usage (in the renderer venv, see tools/render/README.md):

    python tools/render/render_clips.py            # all clips into test_videos/ (variant dqs_cloth)
    python tools/render/render_clips.py --only double_leg_squat --frames-png /tmp/x
    python tools/render/render_clips.py --variant lbs_paint   # the older clips (LBS, painted clothes)

World frame (metres): z up, floor at z = 0, the subject stands at the origin
facing -y (towards the camera) with its own LEFT towards +x.  The camera sits at
y = -DIST looking along +y, so the subject's left appears on the IMAGE RIGHT.
Image coordinates in the ground truth: pixels of the output video, x right,
y DOWN, pixel centres at integer + 0.5 (i.e. the top-left pixel spans 0..1).

Pose: anny with pose_parameterization="world-orient": each bone gets a world
rotation Q relative to its rest orientation (delta D = Q @ R_rest) and its head
follows its parent.  Joint centres are bone heads: hip = upperleg01, knee =
lowerleg01, ankle = foot, shoulder = upperarm01.  Heel and toe are fixed mesh
vertices (most posterior / most anterior point of the foot).

Renderer variants (--variant): dqs_cloth (default) = anny's dual-quaternion skinning plus
clothes/shoes with some geometry (Body.dress); lbs_paint = linear blend skinning with the
clothes only painted on the skin (the clips committed before the switch).  Ground truth
(joint centres, surface keypoints, heel/toe) always comes from the undressed skinned body.

Everything is deterministic (fixed seeds, no randomness besides seeded sway).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("ANNY_CACHE_DIR", str(Path("/work/anny-cache")))

import torch  # noqa: E402

import raster  # noqa: E402

torch.set_num_threads(2)

FPS = 30
WIDTH, HEIGHT = 540, 960
FOCAL = 1012.5  # px  (= 1350 px at 720x1280)
CAM_DIST = 3.0  # m
CAM_HEIGHT = 0.95  # m
SSAA = 2
SEED = 20240611
SLS_FPPA = 20.0  # deg, left-knee FPPA (joint centres) at each deepest frame of the single-leg squat clip

# Renderer variants (same ids as render_grid.py).  The committed sample clips use DEFAULT_VARIANT.
VARIANTS = {
    "lbs_paint": dict(id="lbs_paint", skinning="lbs", cloth=False),
    "dqs_paint": dict(id="dqs_paint", skinning="dqs", cloth=False),
    "lbs_cloth": dict(id="lbs_cloth", skinning="lbs", cloth=True),
    "dqs_cloth": dict(id="dqs_cloth", skinning="dqs", cloth=True),
}
DEFAULT_VARIANT = "dqs_cloth"

PHENOTYPE = dict(gender=0.35, age=0.45, muscle=0.55, weight=0.45, height=0.6, proportions=0.5)
PHENOTYPE_B = dict(gender=0.8, age=0.5, muscle=0.6, weight=0.55, height=0.7, proportions=0.5)

SKIN = (0.78, 0.57, 0.45)
SHIRT = (0.13, 0.36, 0.58)
SHIRT_B = (0.62, 0.16, 0.12)
SHORTS = (0.10, 0.11, 0.14)
SHOE = (0.88, 0.88, 0.86)
SOLE = (0.22, 0.22, 0.24)
HAIR = (0.10, 0.07, 0.05)
SCLERA = (0.85, 0.84, 0.82)
IRIS = (0.08, 0.06, 0.05)


# ----------------------------------------------------------------------------- rotations
def rot(axis, deg):
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    a = math.radians(deg)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K


def Rx(d):
    return rot([1, 0, 0], d)


def Ry(d):
    return rot([0, 1, 0], d)


def Rz(d):
    return rot([0, 0, 1], d)


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def rot_between(a, b):
    """Smallest rotation taking direction a to direction b."""
    a, b = unit(a), unit(b)
    c = np.cross(a, b)
    s = np.linalg.norm(c)
    if s < 1e-12:
        return np.eye(3)
    return rot(c, math.degrees(math.atan2(s, float(a @ b))))


def rot_log(R):
    c = np.clip((np.trace(R) - 1) / 2, -1, 1)
    ang = math.acos(c)
    if ang < 1e-9:
        return np.zeros(3)
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / (2 * math.sin(ang))
    return w * ang


def slerp(A, B, t):
    w = rot_log(A.T @ B)
    ang = np.linalg.norm(w)
    if ang < 1e-12:
        return A.copy()
    return A @ rot(w / ang, math.degrees(ang * t))


def frame(u, f):
    """Orthonormal frame with first axis u and second axis f orthogonalised against u."""
    u = unit(u)
    f = f - (f @ u) * u
    f = unit(f)
    return np.stack([u, f, np.cross(u, f)], axis=1)


def smooth(u):
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def ramp(t, t0, t1):
    return float(smooth((t - t0) / (t1 - t0)))


# ----------------------------------------------------------------------------- body model
class Body:
    def __init__(self, phenotype, shirt=SHIRT, skinning="lbs", colors=None, clothing_geometry=False):
        """colors: optional overrides of the painted albedos (keys skin, shorts, shoe, sole, hair).
        clothing_geometry: give shirt/shorts/shoes some thickness (see dress()); on in the
        default renderer variant dqs_cloth."""
        import anny

        self.skinning = skinning
        self.colors = dict(skin=SKIN, shorts=SHORTS, shoe=SHOE, sole=SOLE, hair=HAIR)
        self.colors.update(colors or {})
        self.model = anny.Anny(pose_parameterization="world-orient", skinning_method=skinning)
        m = self.model
        self.labels = list(m.bone_labels)
        self.parents = np.asarray(m.bone_parents)
        self.idx = {b: i for i, b in enumerate(self.labels)}
        self.phenotype = dict(phenotype)
        with torch.no_grad():
            ph = m._parse_parameter_kwargs(self.phenotype, m.phenotype_labels, 0.5, "phenotype")
            n_local = len(m.local_change_labels)
            n_face = len(m.facial_action_labels)
            self.bs = m._get_phenotype_blendshape_coefficients(
                ph, torch.zeros(1, n_local, dtype=m.dtype), torch.zeros(1, n_face, dtype=m.dtype)
            )
            rest = m.get_rest_model(self.bs)
        self.R0 = rest["rest_bone_poses"][0, :, :3, :3].double().numpy()
        self.h0 = rest["rest_bone_heads"][0].double().numpy()
        v0 = rest["rest_vertices"][0].double().numpy()
        # World = anny coordinates lifted so the soles touch z = 0 in the rest pose.
        self.lift = -v0[:, 2].min()
        self.h0 = self.h0 + np.array([0, 0, self.lift])
        self.v0 = v0 + np.array([0, 0, self.lift])
        self.faces = m.faces.numpy().astype(np.int64)
        assert self.faces.shape[1] == 3
        for i in range(1, len(self.labels)):
            assert self.parents[i] < i, "bones must be in parent-first order"
        self.J = {}
        for side, S in (("left", "L"), ("right", "R")):
            self.J[f"{side}_hip"] = self.idx[f"upperleg01.{S}"]
            self.J[f"{side}_knee"] = self.idx[f"lowerleg01.{S}"]
            self.J[f"{side}_ankle"] = self.idx[f"foot.{S}"]
            self.J[f"{side}_shoulder"] = self.idx[f"upperarm01.{S}"]
        h = self.h0
        self.l_thigh = {s: np.linalg.norm(h[self.J[f"{s}_knee"]] - h[self.J[f"{s}_hip"]]) for s in ("left", "right")}
        self.l_shank = {s: np.linalg.norm(h[self.J[f"{s}_ankle"]] - h[self.J[f"{s}_knee"]]) for s in ("left", "right")}
        self._paint(shirt)
        self._foot_landmarks()
        self.disp_rest = None
        if clothing_geometry:
            self._clothing_geometry()
        from anny.keypoints import KeypointsRegressor

        self.coco = KeypointsRegressor.coco(m)
        self.coco_labels = list(self.coco.labels)

    # -- painting --------------------------------------------------------------------
    def _paint(self, shirt):
        w = self.model.vertex_bone_weights.numpy()
        bi = self.model.vertex_bone_indices.numpy()
        dom = bi[np.arange(len(bi)), np.argmax(w, axis=1)]
        names = np.array(self.labels)[dom]
        v = self.v0
        h = self.h0
        z_hip = h[self.J["left_hip"], 2]
        z_knee = h[self.J["left_knee"], 2]
        z_ankle = h[self.J["left_ankle"], 2]
        C = self.colors
        alb = np.tile(np.array(C["skin"]), (len(v), 1))
        is_leg = np.array([n.startswith(("upperleg", "lowerleg")) for n in names])
        is_foot = np.array([n.startswith(("foot", "toe")) for n in names])
        is_torso = np.array([n.startswith(("root", "pelvis", "spine", "clavicle", "shoulder")) for n in names])
        is_uarm = np.array([n.startswith("upperarm") for n in names])
        is_head = np.array([n in ("head", "neck03") for n in names])
        is_eye = np.array([n.startswith("eye") for n in names])
        waist = z_hip + 0.10
        # Shorts: pelvis and thighs down to ~40 % of the way from hip to knee.
        shorts_bottom = z_hip - 0.42 * (z_hip - z_knee)
        shorts = ((is_torso | is_leg) & (v[:, 2] < waist) & (v[:, 2] > shorts_bottom))
        # T-shirt: trunk above the waist, but not the neck above the collar.
        neck_z = h[self.idx["neck01"], 2]
        sh = h[self.J["left_shoulder"]]
        shirt_m = is_torso & (v[:, 2] >= waist) & (v[:, 2] < neck_z - 0.015)
        # Sleeves: upper arm within 45 % of its length from the shoulder joint.
        ua = np.linalg.norm(h[self.idx["lowerarm01.L"]] - sh)
        dl = np.linalg.norm(v - h[self.J["left_shoulder"]], axis=1)
        dr = np.linalg.norm(v - h[self.J["right_shoulder"]], axis=1)
        sleeve = (is_uarm | is_torso) & (np.minimum(dl, dr) < 0.45 * ua) & (v[:, 2] < neck_z - 0.015)
        shirt_m |= sleeve
        alb[shorts] = C["shorts"]
        alb[shirt_m & ~shorts] = shirt
        # Shoes: foot bones and anything below the ankle joint + 3 cm.
        shoe = is_foot | ((is_leg) & (v[:, 2] < z_ankle + 0.03))
        alb[shoe] = C["shoe"]
        alb[shoe & (v[:, 2] < 0.018)] = C["sole"]
        self.mask = dict(shorts=shorts, shirt=shirt_m & ~shorts, shoe=shoe)
        # Hair: top and back of the head.
        eye_c = 0.5 * (h[self.idx["eye.L"]] + h[self.idx["eye.R"]])
        head_y = h[self.idx["head"], 1]
        hair = is_head & ((v[:, 2] > eye_c[2] + 0.045) | ((v[:, 1] > head_y + 0.01) & (v[:, 2] > eye_c[2] - 0.06)))
        alb[hair] = C["hair"]
        # Eyes: white, dark iris at the front.
        for S in ("L", "R"):
            sel = is_eye & (np.array([n.endswith(S) for n in names]))
            if sel.any():
                c = v[sel].mean(axis=0)
                ymin = v[sel, 1].min()
                alb[sel] = SCLERA
                iris = sel & (v[:, 1] < ymin + 0.35 * (c[1] - ymin) + 0.002)
                alb[iris] = IRIS
        self.albedo = alb.astype(np.float32)

    def _clothing_geometry(self, shorts_mm=18.0, shirt_mm=10.0, shoe_mm=9.0, sole_mm=7.0):
        """Rest-space displacement that gives the painted clothes some volume.

        Shorts and shirt are pushed outward along the rest normals (a visible step = hem at
        their edges), smoothed a little so skin creases (groin, buttocks) do not show through;
        shoes get an outward offset, smoothed toes and a sole that sticks out sideways.
        The displacement is carried into each pose by the skinning-weighted bone rotations
        (dress()).  Ground truth (joint centres, surface keypoints) stays on the body.
        """
        v, f = self.v0, self.faces
        nrm = raster.vertex_normals(v, f)
        m = self.mask
        nb_src = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
        nb_dst = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
        deg = np.bincount(nb_src, minlength=len(v)).astype(np.float64)[:, None]

        def taubin(x, sel, iters=6, lam=0.5, mu=-0.53):
            x = x.copy()
            for _ in range(iters):
                for k in (lam, mu):
                    acc = np.zeros_like(x)
                    np.add.at(acc, nb_src, x[nb_dst])
                    lap = acc / np.maximum(deg, 1) - x
                    x[sel] += k * lap[sel]
            return x

        disp = np.zeros_like(v)
        # Cloth does not follow the skin's small creases: smooth the clothed regions first.
        cloth = m["shorts"] | m["shirt"]
        vs = taubin(v, cloth, iters=8)
        disp += vs - v
        disp[m["shorts"]] += nrm[m["shorts"]] * shorts_mm / 1000
        disp[m["shirt"]] += nrm[m["shirt"]] * shirt_mm / 1000
        shoe = m["shoe"]
        # Shoes: each foot's shoe vertices go out to (approximately) their convex hull, so the
        # toes disappear into a toe box: a 256-direction support-plane polytope, reached along
        # heavily smoothed normals (smooth between the toes), then a few mm more.
        g = (np.sqrt(5) - 1) / 2
        kk = np.arange(256) + 0.5
        zc = 1 - 2 * kk / 256
        dirs = np.stack([np.sqrt(1 - zc**2) * np.cos(2 * np.pi * g * kk), np.sqrt(1 - zc**2) * np.sin(2 * np.pi * g * kk), zc], 1)
        ns = nrm.copy()
        for _ in range(30):
            acc = np.zeros_like(ns)
            np.add.at(acc, nb_src, ns[nb_dst])
            ns[shoe] = acc[shoe] / np.maximum(deg[shoe], 1)
            ns /= np.linalg.norm(ns, axis=1, keepdims=True) + 1e-12
        for sgn in (1.0, -1.0):
            sel = np.where(shoe & (np.sign(v[:, 0]) == sgn))[0]
            p = v[sel]
            dk = (p @ dirs.T).max(axis=0)  # support planes dirs . x <= dk
            nd = ns[sel] @ dirs.T
            gap = dk[None, :] - p @ dirs.T
            tt = np.where(nd > 1e-3, gap / np.maximum(nd, 1e-3), np.inf).min(axis=1)
            tt = np.clip(tt, 0.0, 0.025)
            disp[sel] += ns[sel] * tt[:, None]
        n_sh = ns[shoe].copy()
        n_sh[:, 2] = np.maximum(n_sh[:, 2], 0.0)  # never push the shoe through the floor
        disp[shoe] += n_sh * shoe_mm / 1000
        # Sole: the lowest ~2 cm stick out sideways (and forward/back) a little more.
        low = shoe & (v[:, 2] < 0.022)
        hxy = nrm[low].copy()
        hxy[:, 2] = 0
        hxy /= np.linalg.norm(hxy, axis=1, keepdims=True) + 1e-9
        disp[low] += hxy * sole_mm / 1000
        # Bottom of the shoe flat at the floor.
        flat = shoe & (v[:, 2] < 0.012)
        disp[flat, 2] = -v[flat, 2] + 0.0005
        self.disp_rest = disp
        self.disp_idx = np.where(np.linalg.norm(disp, axis=1) > 1e-6)[0]

    def dress(self, verts, Qs):
        """Add the clothing displacement (rest space) to skinned vertices (N, V, 3), each
        vertex's offset turned by the skin-weighted blend of its bones' rotations Qs (N, B, 3, 3)."""
        if self.disp_rest is None:
            return verts
        ii = self.disp_idx
        w = self.model.vertex_bone_weights.numpy()[ii].astype(np.float64)
        bi = self.model.vertex_bone_indices.numpy()[ii]
        d0 = self.disp_rest[ii]
        out = verts.copy()
        for k in range(len(verts)):
            R = np.einsum("vk,vkij->vij", w, Qs[k][bi])
            out[k, ii] += np.einsum("vij,vj->vi", R, d0)
        return out

    def _foot_landmarks(self):
        w = self.model.vertex_bone_weights.numpy()
        bi = self.model.vertex_bone_indices.numpy()
        dom = bi[np.arange(len(bi)), np.argmax(w, axis=1)]
        names = np.array(self.labels)[dom]
        v = self.v0
        self.heel_vid, self.toe_vid = {}, {}
        for side, S in (("left", "L"), ("right", "R")):
            foot = np.array([(n.startswith(("foot", "toe", "lowerleg02")) and n.endswith(S)) for n in names])
            low = foot & (v[:, 2] < 0.04)
            cand = np.where(low)[0]
            self.heel_vid[side] = int(cand[np.argmax(v[cand, 1])])
            tip = np.where(foot & (v[:, 2] < 0.06))[0]
            self.toe_vid[side] = int(tip[np.argmin(v[tip, 1])])

    # -- forward kinematics (joint heads only, numpy) ------------------------------------
    def fk_heads(self, Q, root):
        n = len(self.labels)
        heads = np.zeros((n, 3))
        heads[0] = root
        for c in range(1, n):
            p = self.parents[c]
            heads[c] = heads[p] + Q[p] @ (self.h0[c] - self.h0[p])
        return heads

    def skin(self, Qs, roots, batch=32):
        """Skinned vertices (N, V, 3) and bone heads (N, B, 3) for rotations Qs (N, B, 3, 3)."""
        m = self.model
        out_v, out_h = [], []
        R0 = torch.from_numpy(self.R0)
        off = np.array([0, 0, self.lift])
        for s in range(0, len(Qs), batch):
            Q = torch.from_numpy(np.asarray(Qs[s : s + batch]))
            D = torch.zeros(Q.shape[0], Q.shape[1], 4, 4, dtype=torch.float64)
            D[:, :, :3, :3] = Q @ R0
            D[:, :, 3, 3] = 1
            D[:, 0, :3, 3] = torch.from_numpy(np.asarray(roots[s : s + batch]) - off)
            with torch.no_grad():
                o = m(D.to(m.dtype), phenotype_kwargs=self.phenotype)
            out_v.append(o["vertices"].double().numpy() + off)
            out_h.append(o["bone_poses"][:, :, :3, 3].double().numpy() + off)
        return np.concatenate(out_v), np.concatenate(out_h)

    def coco_points(self, verts):
        with torch.no_grad():
            k = self.coco({"vertices": torch.from_numpy(verts).to(self.model.dtype)})
        return k.double().numpy()


# ----------------------------------------------------------------------------- pose spec
@dataclass
class LegSpec:
    ankle: np.ndarray  # world target of the ankle joint centre
    hint: np.ndarray  # direction the knee should point (swivel); horizontal-ish
    foot: np.ndarray = field(default_factory=lambda: np.eye(3))  # world rotation of the foot


@dataclass
class PoseSpec:
    root: np.ndarray
    pelvis: np.ndarray
    chest: np.ndarray
    head: np.ndarray
    arm_dir: dict  # side -> world direction of the upper arm
    fore_dir: dict  # side -> world direction of the forearm
    legs: dict  # side -> LegSpec
    yaw: float = 0.0  # whole-body rotation about the vertical through the origin (deg)
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # whole-body translation


def two_bone(H, A, l1, l2, hint):
    d = A - H
    D = np.linalg.norm(d)
    Dmax = l1 + l2 - 1e-6
    if D > Dmax:
        raise ValueError(f"ankle out of reach by {1000 * (D - Dmax):.1f} mm")
    e = d / D
    a = (l1 * l1 - l2 * l2 + D * D) / (2 * D)
    r = math.sqrt(max(l1 * l1 - a * a, 0.0))
    p = hint - (hint @ e) * e
    p = unit(p)
    K = H + a * e + r * p
    return K, p


def solve(body: Body, spec: PoseSpec):
    """Pose spec -> per-bone world rotations Q (B, 3, 3) and root position."""
    L, idx, h0 = body.labels, body.idx, body.h0
    Q = np.tile(np.eye(3), (len(L), 1, 1))
    root0 = h0[0]

    def setq(names, R):
        for n in names:
            Q[idx[n]] = R

    pelvis = spec.pelvis
    setq(["root", "pelvis.L", "pelvis.R", "spine05"], pelvis)
    setq(["spine04"], slerp(pelvis, spec.chest, 1 / 3))
    setq(["spine03"], slerp(pelvis, spec.chest, 2 / 3))
    setq(["spine02", "spine01", "clavicle.L", "clavicle.R", "shoulder01.L", "shoulder01.R"], spec.chest)
    setq(["neck01"], slerp(spec.chest, spec.head, 1 / 3))
    setq(["neck02"], slerp(spec.chest, spec.head, 2 / 3))
    setq(["neck03", "head", "eye.L", "eye.R"], spec.head)
    for side, S in (("left", "L"), ("right", "R")):
        u0 = h0[idx[f"lowerarm01.{S}"]] - h0[idx[f"upperarm01.{S}"]]
        Qu = rot_between(spec.chest @ u0, spec.arm_dir[side]) @ spec.chest
        setq([f"upperarm01.{S}", f"upperarm02.{S}"], Qu)
        f0 = h0[idx[f"wrist.{S}"]] - h0[idx[f"lowerarm01.{S}"]]
        Qf = rot_between(Qu @ f0, spec.fore_dir[side]) @ Qu
        hand = [n for n in L if n.endswith("." + S) and n.startswith(("lowerarm", "wrist", "finger", "metacarpal"))]
        setq(hand, Qf)
    # Reach guard: lower the whole body just enough that no leg is over-stretched
    # (keeps >= ~3 deg of knee flexion; feet stay exactly on their targets).
    drop = 0.0
    for side in ("left", "right"):
        H = spec.root + pelvis @ (h0[body.J[f"{side}_hip"]] - root0)
        A = spec.legs[side].ankle
        lmax = body.l_thigh[side] + body.l_shank[side] - 0.0006
        dxy = np.linalg.norm((H - A)[:2])
        if np.linalg.norm(H - A) > lmax:
            drop = max(drop, (H[2] - A[2]) - math.sqrt(max(lmax**2 - dxy**2, 0.0)))
    if drop > 0:
        spec = PoseSpec(**{**spec.__dict__, "root": spec.root - np.array([0.0, 0.0, drop])})
    # Legs: hips follow the pelvis; two-bone IK to the ankle target with a knee hint.
    for side, S in (("left", "L"), ("right", "R")):
        iH, iK, iA = body.J[f"{side}_hip"], body.J[f"{side}_knee"], body.J[f"{side}_ankle"]
        H = spec.root + pelvis @ (h0[iH] - root0)
        leg = spec.legs[side]
        l1, l2 = body.l_thigh[side], body.l_shank[side]
        K, p = two_bone(H, leg.ankle, l1, l2, leg.hint)
        # Rest frames use the rest knee direction (forward = -y) as the hint.
        H0, K0, A0 = h0[iH], h0[iK], h0[iA]
        _, p0 = two_bone(H0, A0 + 0.0, l1, l2, np.array([0.0, -1.0, 0.0]))
        Qt = frame(K - H, p) @ frame(K0 - H0, p0).T
        Qs = frame(leg.ankle - K, p) @ frame(A0 - K0, p0).T
        setq([f"upperleg01.{S}", f"upperleg02.{S}"], Qt)
        setq([f"lowerleg01.{S}", f"lowerleg02.{S}"], Qs)
        setq([n for n in L if n.endswith("." + S) and n.startswith(("foot", "toe"))], leg.foot)
    root = spec.root.copy()
    if spec.yaw or np.any(spec.offset):
        G = Rz(spec.yaw)
        Q = G[None] @ Q
        root = G @ root + spec.offset
    return Q, root


# ----------------------------------------------------------------------------- movements
class Rig:
    """Helpers that turn movement parameters into PoseSpecs for one body."""

    def __init__(self, body: Body, stance_half_width=0.125):
        self.b = body
        h0 = body.h0
        self.root0 = h0[0].copy()
        self.hip0 = {s: h0[body.J[f"{s}_hip"]] for s in ("left", "right")}
        self.ankle0 = {s: h0[body.J[f"{s}_ankle"]] for s in ("left", "right")}
        self.ankle_z = 0.5 * (self.ankle0["left"][2] + self.ankle0["right"][2])
        # Feet hip-width apart, flat on the floor, in their rest orientation.
        self.foot_pos = {
            "left": np.array([stance_half_width, self.ankle0["left"][1], self.ankle_z]),
            "right": np.array([-stance_half_width, self.ankle0["right"][1], self.ankle_z]),
        }
        self.lateral = {"left": np.array([1.0, 0, 0]), "right": np.array([-1.0, 0, 0])}
        self.fwd = np.array([0.0, -1.0, 0.0])
        self.up = np.array([0.0, 0.0, 1.0])
        # Small knee bend of relaxed standing (deg).
        self.theta0 = 4.0

    def hip_from_flexion(self, side, theta, beta_frac=0.42, ankle=None, hip_x=None):
        """Hip centre for knee flexion theta (deg) with the ankle fixed.

        The leg is solved in the sagittal plane, then the hip is put at hip_x (default: its
        rest x) keeping the same hip-ankle distance, so the 3D knee flexion stays ~theta.
        """
        A = self.foot_pos[side] if ankle is None else ankle
        l1, l2 = self.b.l_thigh[side], self.b.l_shank[side]
        beta = math.radians(beta_frac * theta)
        th = math.radians(theta)
        hx = self.hip0[side][0] if hip_x is None else hip_x
        lat = hx - A[0]
        K = A + l2 * (self.fwd * math.sin(beta) + self.up * math.cos(beta))
        H = K + l1 * (-self.fwd * math.sin(th - beta) + self.up * math.cos(th - beta))
        d_sag = np.linalg.norm(H - A)
        H = H.copy()
        H[0] = A[0] + lat
        dy = H[1] - A[1]
        rem = max(d_sag**2 - lat**2 - dy**2, 1e-6)
        H[2] = A[2] + math.sqrt(rem)
        return H

    def arms(self, chest, raise_frac, abduct=12.0):
        """Arms hanging (raise_frac 0) to reaching forward at shoulder height (raise_frac 1)."""
        arm, fore = {}, {}
        for side in ("left", "right"):
            lat = self.lateral[side]
            hang = unit(-self.up * math.cos(math.radians(abduct)) + lat * math.sin(math.radians(abduct)) + 0.08 * self.fwd)
            hang_f = unit(-self.up + 0.28 * self.fwd + 0.10 * lat)
            reach = unit(self.fwd - 0.10 * self.up + 0.02 * lat)
            reach_f = unit(self.fwd - 0.02 * self.up - 0.03 * lat)
            a = unit((1 - raise_frac) * hang + raise_frac * reach)
            f = unit((1 - raise_frac) * hang_f + raise_frac * reach_f)
            arm[side] = a
            fore[side] = f
        return arm, fore

    def standing(self, pelvis_shift=np.zeros(3)):
        """Neutral standing: both ankles on their floor spots, soft knees."""
        H = {s: self.hip_from_flexion(s, self.theta0) for s in ("left", "right")}
        Hm = 0.5 * (H["left"] + H["right"])
        root = Hm - 0.5 * (self.hip0["left"] + self.hip0["right"] - 2 * self.root0) + pelvis_shift
        return root


# ----------------------------------------------------------------------------- ground truth
JOINTS = [
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_heel", "right_heel", "left_toe", "right_toe",
]
COCO_MAP = {
    "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle", "left_shoulder": "left_shoulder",
    "right_shoulder": "right_shoulder",
}


def fppa(Hp, Kp, Ap, side, frontal_sign=1.0):
    """Knee FPPA (deg) in the image: 180 - angle(H, K, A); + when the knee is medial.

    Image x right, y down. Facing the camera the subject's left leg appears on the
    image right, so 'medial' for the left knee is towards -x, for the right knee +x.
    """
    v1 = Hp - Kp
    v2 = Ap - Kp
    ang = math.degrees(math.acos(np.clip(v1 @ v2 / (np.linalg.norm(v1) * np.linalg.norm(v2)), -1, 1)))
    mag = 180.0 - ang
    # Signed horizontal offset of the knee from the hip->ankle line at the knee's height.
    t = (Kp[1] - Hp[1]) / (Ap[1] - Hp[1]) if abs(Ap[1] - Hp[1]) > 1e-9 else 0.5
    x_line = Hp[0] + t * (Ap[0] - Hp[0])
    medial = -1.0 if side == "left" else 1.0
    sign = 1.0 if (Kp[0] - x_line) * medial * frontal_sign >= 0 else -1.0
    return sign * mag


def angle3(a, b, c):
    v1, v2 = a - b, c - b
    return math.degrees(math.acos(np.clip(v1 @ v2 / (np.linalg.norm(v1) * np.linalg.norm(v2)), -1, 1)))


def obliquity_lean(p2):
    L, R = p2["left_hip"], p2["right_hip"]
    mh = 0.5 * (L + R)
    ms = 0.5 * (p2["left_shoulder"] + p2["right_shoulder"])
    return {
        # + when the subject's LEFT hip is lower in the image (larger y).
        "pelvic_obliquity_deg": math.degrees(math.atan2(L[1] - R[1], L[0] - R[0])),
        # + when the shoulders are towards the subject's LEFT (= image right when facing the camera).
        "trunk_lean_deg": math.degrees(math.atan2(ms[0] - mh[0], mh[1] - ms[1])),
    }


def derived(p2, p3):
    """Derived metrics from 2D pixel joints p2 and 3D joints p3 (dicts name -> array)."""
    out = {}
    out["knee_fppa_left_deg"] = fppa(p2["left_hip"], p2["left_knee"], p2["left_ankle"], "left")
    out["knee_fppa_right_deg"] = fppa(p2["right_hip"], p2["right_knee"], p2["right_ankle"], "right")
    out.update(obliquity_lean(p2))
    for s in ("left", "right"):
        out[f"knee_flexion_{s}_deg"] = 180.0 - angle3(p3[f"{s}_hip"], p3[f"{s}_knee"], p3[f"{s}_ankle"])
    return out


# ----------------------------------------------------------------------------- clips
@dataclass
class Clip:
    name: str
    test: str
    seconds: float
    view: str = "frontal"
    stance_side: str | None = None
    yaw: float = 0.0


def double_leg_squat_specs(rig: Rig, n, reps_t, depth_deg=90.0, yaw=0.0, offset=(0.0, 0.0, 0.0)):
    specs, depth = [], []
    for i in range(n):
        t = i / FPS
        s = 0.0
        for (t0, tb, t1) in reps_t:
            if t0 <= t <= tb:
                s = float(smooth((t - t0) / (tb - t0)))
            elif tb < t <= t1:
                s = float(smooth((t1 - t) / (t1 - tb)))
        theta = rig.theta0 + s * (depth_deg - rig.theta0)
        depth.append(s)
        pelvis = Rx(22.0 * s)
        chest = Rx(40.0 * s)
        head = Rx(12.0 * s)
        H = {sd: rig.hip_from_flexion(sd, theta) for sd in ("left", "right")}
        Hm = 0.5 * (H["left"] + H["right"])
        hm0 = 0.5 * (rig.hip0["left"] + rig.hip0["right"])
        root = Hm - pelvis @ (hm0 - rig.root0)
        arm, fore = rig.arms(chest, min(1.0, 1.6 * s))
        legs = {}
        for sd in ("left", "right"):
            # Knees track over the 2nd toe: hint forward, a touch outward like the foot.
            legs[sd] = LegSpec(rig.foot_pos[sd].copy(), unit(rig.fwd + 0.10 * rig.lateral[sd]))
        specs.append(PoseSpec(root, pelvis, chest, head, arm, fore, legs, yaw=yaw, offset=np.array(offset)))
    return specs, np.array(depth)


def single_leg_squat_specs(rig: Rig, n, stance, reps_t, lift_t, down_t, depth_deg, swivel_max):
    free = "right" if stance == "left" else "left"
    specs, depth = [], []
    for i in range(n):
        t = i / FPS
        s = 0.0
        for (t0, tb, t1) in reps_t:
            if t0 <= t <= tb:
                s = float(smooth((t - t0) / (tb - t0)))
            elif tb < t <= t1:
                s = float(smooth((t1 - t) / (t1 - tb)))
        depth.append(s)
        # Weight shift before the lift, back after the foot is down.
        shift = ramp(t, lift_t - 0.5, lift_t) * (1 - ramp(t, down_t + 0.3, down_t + 0.8))
        lift = ramp(t, lift_t, lift_t + 0.45) * (1 - ramp(t, down_t - 0.45, down_t))
        theta = rig.theta0 + s * (depth_deg - rig.theta0)
        pelvis = Rx(14.0 * s)
        chest = Rx(24.0 * s)
        head = Rx(8.0 * s)
        lat_shift = 0.065 * shift * rig.lateral[stance]
        hip_x = rig.hip0[stance][0] + lat_shift[0]
        Hst = rig.hip_from_flexion(stance, theta, hip_x=hip_x)
        root_sl = Hst - pelvis @ (rig.hip0[stance] - rig.root0)
        # Blend towards the symmetric standing height while the weight shifts.
        root_st = rig.standing() + lat_shift
        root = (1 - shift) * root_st + shift * root_sl
        # Lateral shift moves the stance hip; re-fit the height so the stance ankle stays reachable.
        arm, fore = rig.arms(chest, min(1.0, 0.35 + 1.2 * s) * shift + 0.0)
        legs = {}
        # Stance leg: knee swivels medially (valgus) with depth.
        phi = swivel_max * s
        med = -rig.lateral[stance]
        hint = unit(math.cos(math.radians(phi)) * rig.fwd + math.sin(math.radians(phi)) * med)
        legs[stance] = LegSpec(rig.foot_pos[stance].copy(), hint)
        # Free leg: ankle lifted, slightly behind the hip, foot a little plantar-flexed.
        Hf = root + pelvis @ (rig.hip0[free] - rig.root0)
        floor_pos = rig.foot_pos[free]
        up_pos = np.array([Hf[0] + 0.01 * rig.lateral[free][0], Hf[1] + 0.10, rig.ankle_z + 0.17])
        A = (1 - lift) * floor_pos + lift * up_pos
        A[2] = floor_pos[2] + lift * 0.17
        legs[free] = LegSpec(A, unit(rig.fwd), Rx(18.0 * lift))
        specs.append(PoseSpec(root, pelvis, chest, head, arm, fore, legs))
    return specs, np.array(depth)


def stance_specs(rig: Rig, n, stance, lift_t, down_t, drop_deg, lean_deg, seed):
    free = "right" if stance == "left" else "left"
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * np.pi, size=6)
    specs = []
    for i in range(n):
        t = i / FPS
        shift = ramp(t, lift_t - 0.5, lift_t) * (1 - ramp(t, down_t + 0.2, down_t + 0.7))
        lift = ramp(t, lift_t, lift_t + 0.45) * (1 - ramp(t, down_t - 0.45, down_t))
        hold = ramp(t, lift_t + 0.3, lift_t + 0.9) * (1 - ramp(t, down_t - 0.7, down_t - 0.2))
        sway = hold * (0.35 * math.sin(2 * np.pi * 0.43 * t + ph[0]) + 0.2 * math.sin(2 * np.pi * 0.91 * t + ph[1]))
        sway_lat = hold * (0.004 * math.sin(2 * np.pi * 0.37 * t + ph[2]) + 0.002 * math.sin(2 * np.pi * 1.1 * t + ph[3]))
        sway_lean = hold * (0.3 * math.sin(2 * np.pi * 0.29 * t + ph[4]))
        # Contralateral drop: the FREE side of the pelvis goes down. Free = left -> left hip down = Ry(+).
        sgn = 1.0 if free == "left" else -1.0
        pelvis = Ry(sgn * (hold * drop_deg + sway))
        # Trunk lean towards the stance side: stance right -> shoulders towards -x -> Ry(-).
        chest = Ry(-sgn * (hold * lean_deg + sway_lean)) @ Rx(3.0 * hold)
        head = Ry(-sgn * 0.5 * hold * lean_deg)
        lat = (0.06 * shift + sway_lat) * rig.lateral[stance]
        hip_x = rig.hip0[stance][0] + lat[0]
        Hst = rig.hip_from_flexion(stance, rig.theta0 + 2.0 * hold, hip_x=hip_x)
        root_sl = Hst - pelvis @ (rig.hip0[stance] - rig.root0)
        root_st = rig.standing() + lat
        root = (1 - shift) * root_st + shift * root_sl
        arm, fore = rig.arms(chest, 0.0, abduct=12.0 + 8.0 * hold)
        legs = {stance: LegSpec(rig.foot_pos[stance].copy(), unit(rig.fwd + 0.08 * rig.lateral[stance]))}
        Hf = root + pelvis @ (rig.hip0[free] - rig.root0)
        floor_pos = rig.foot_pos[free]
        up_pos = np.array([Hf[0] + 0.01 * rig.lateral[free][0], Hf[1] + 0.24, rig.ankle_z + 0.17])
        A = (1 - lift) * floor_pos + lift * up_pos
        A[2] = floor_pos[2] + lift * 0.17
        legs[free] = LegSpec(A, unit(rig.fwd), Rx(15.0 * lift))
        specs.append(PoseSpec(root, pelvis, chest, head, arm, fore, legs))
    return specs


def standing_specs(rig: Rig, n, seed, x_offset, y_offset=0.0):
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * np.pi, size=4)
    specs = []
    for i in range(n):
        t = i / FPS
        sway = 0.004 * math.sin(2 * np.pi * 0.3 * t + ph[0])
        root = rig.standing(np.array([sway, 0, 0]))
        arm, fore = rig.arms(np.eye(3), 0.0, abduct=12.0 + 2 * math.sin(t + ph[1]))
        legs = {s: LegSpec(rig.foot_pos[s].copy(), unit(rig.fwd + 0.08 * rig.lateral[s])) for s in ("left", "right")}
        specs.append(PoseSpec(root, np.eye(3), np.eye(3), Rz(4 * math.sin(0.5 * t + ph[2])), arm, fore, legs,
                              offset=np.array([x_offset, y_offset, 0.0])))
    return specs


# ----------------------------------------------------------------------------- pipeline
def set_format(fps: int, scale: int) -> None:
    """Frame rate and size for every clip made after this call (the committed clips: 30 fps, scale 1)."""
    global FPS, WIDTH, HEIGHT, FOCAL
    FPS, WIDTH, HEIGHT, FOCAL = fps, 540 * scale, 960 * scale, 1012.5 * scale


def make_camera():
    return raster.Camera(WIDTH, HEIGHT, FOCAL, [0.0, -CAM_DIST, CAM_HEIGHT], yaw_deg=0.0)


def ground_truth(body, cam, Qs, roots):
    """2D/3D joints and derived metrics per frame from the numpy FK (bone heads)."""
    frames = []
    for Q, r in zip(Qs, roots):
        heads = body.fk_heads(Q, r)
        frames.append(heads)
    return np.stack(frames)


def joints_from(body, heads, verts):
    p3 = {}
    for j in ("hip", "knee", "ankle", "shoulder"):
        for s in ("left", "right"):
            p3[f"{s}_{j}"] = heads[:, body.J[f"{s}_{j}"]]
    for s in ("left", "right"):
        p3[f"{s}_heel"] = verts[:, body.heel_vid[s]]
        p3[f"{s}_toe"] = verts[:, body.toe_vid[s]]
    return p3


def encode(frames_iter, path, n):
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [
        exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
        "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "slow", "-crf", "23", "-pix_fmt", "yuv420p",
        "-threads", "1", "-movflags", "+faststart", "-map_metadata", "-1", "-fflags", "+bitexact",
        "-flags:v", "+bitexact", str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    count = 0
    for img in frames_iter:
        proc.stdin.write(np.ascontiguousarray(img).tobytes())
        count += 1
    proc.stdin.close()
    rc = proc.wait()
    assert rc == 0 and count == n, (rc, count, n)


def r2(x, nd=2):
    return [round(float(v), nd) for v in x]


def build_clip(name, bodyA, rigA, bodyB=None, rigB=None):
    """Returns dict with meshes per frame (list of (body, Qs, roots)), and clip metadata."""
    meta = {"reps": [], "stance_period": None}
    if name == "double_leg_squat":
        n = int(9.0 * FPS)
        reps_t = [(1.5 + k * 2.6, 1.5 + k * 2.6 + 1.1, 1.5 + k * 2.6 + 2.2) for k in range(3)]
        specs, depth = double_leg_squat_specs(rigA, n, reps_t)
        meta.update(test="double_leg_squat", stance_side=None, view="frontal", depth=depth, reps_t=reps_t)
    elif name == "side_view_squat":
        n = int(5.0 * FPS)
        reps_t = [(1.5 + k * 1.7, 1.5 + k * 1.7 + 0.75, 1.5 + k * 1.7 + 1.5) for k in range(2)]
        # Subject turned 90 deg (faces the image right, its right side towards the camera),
        # moved 0.2 m to the image left so the reaching arms stay in frame.
        specs, depth = double_leg_squat_specs(rigA, n, reps_t, yaw=90.0, offset=(-0.2, 0.0, 0.0))
        meta.update(test="side_view", stance_side=None, view="side", depth=depth, reps_t=reps_t, yaw=90.0)
    elif name == "single_leg_squat_left_valgus":
        n = int(10.0 * FPS)
        lift_t, down_t = 2.0, 8.9
        reps_t = [(2.8 + k * 2.0, 2.8 + k * 2.0 + 0.9, 2.8 + k * 2.0 + 1.8) for k in range(3)]
        # Bisection on the swivel so the ground-truth FPPA at the deepest frame is SLS_FPPA (+20.0 deg).
        cam = make_camera()

        def fppa_at(sw):
            specs, depth = single_leg_squat_specs(rigA, n, "left", reps_t, lift_t, down_t, 60.0, sw)
            k = int(np.argmax(depth))
            Q, r = solve(bodyA, specs[k])
            hd = bodyA.fk_heads(Q, r)
            p2 = {j: cam.project(hd[bodyA.J[j]])[0] for j in ("left_hip", "left_knee", "left_ankle")}
            return fppa(p2["left_hip"], p2["left_knee"], p2["left_ankle"], "left")

        lo, hi = 0.0, 70.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if fppa_at(mid) < SLS_FPPA:
                lo = mid
            else:
                hi = mid
        swivel = 0.5 * (lo + hi)
        specs, depth = single_leg_squat_specs(rigA, n, "left", reps_t, lift_t, down_t, 60.0, swivel)
        meta.update(test="single_leg_squat", stance_side="left", view="frontal", depth=depth, reps_t=reps_t,
                    swivel_deg=swivel, lift_t=lift_t, down_t=down_t)
    elif name == "single_leg_stance_right":
        n = int(9.5 * FPS)
        lift_t, down_t = 1.9, 8.5
        cam = make_camera()
        hold = [i for i in range(n) if lift_t + 0.9 <= i / FPS <= down_t - 0.7]

        def means(drop, lean):
            specs = stance_specs(rigA, n, "right", lift_t, down_t, drop, lean, SEED + 3)
            ob, le = [], []
            for k in hold[::3]:
                Q, r = solve(bodyA, specs[k])
                hd = bodyA.fk_heads(Q, r)
                p2 = {j: cam.project(hd[bodyA.J[j]])[0] for j in ("left_hip", "right_hip", "left_shoulder", "right_shoulder")}
                d = obliquity_lean(p2)
                ob.append(d["pelvic_obliquity_deg"])
                le.append(d["trunk_lean_deg"])
            return float(np.mean(ob)), float(np.mean(le))

        drop, lean = 6.0, 4.0
        for _ in range(6):  # fixed-point iteration on the two targets (+6 obliquity, -4 lean)
            ob, le = means(drop, lean)
            drop += 6.0 - ob
            lean += 4.0 + le
        specs = stance_specs(rigA, n, "right", lift_t, down_t, drop, lean, SEED + 3)
        depth = np.zeros(n)
        meta.update(test="single_leg_stance", stance_side="right", view="frontal", depth=depth, reps_t=[],
                    drop_param_deg=drop, lean_param_deg=lean, lift_t=lift_t, down_t=down_t)
    elif name == "two_people":
        n = int(3.0 * FPS)
        specsA = standing_specs(rigA, n, SEED + 5, -0.36, 0.0)
        specsB = standing_specs(rigB, n, SEED + 6, 0.36, 0.25)
        meta.update(test="two_people", stance_side=None, view="frontal", depth=np.zeros(n), reps_t=[],
                    specsB=specsB)
        specs = specsA
    else:
        raise KeyError(name)
    return specs, meta


CLIPS = ["double_leg_squat", "single_leg_squat_left_valgus", "single_leg_stance_right", "side_view_squat", "two_people"]


def run_clip(name, bodyA, rigA, bodyB, rigB, outdir: Path, png_dir: Path | None, preview=False,
             variant=DEFAULT_VARIANT, suffix=""):
    t_start = time.time()
    cam = make_camera()
    specs, meta = build_clip(name, bodyA, rigA, bodyB, rigB)
    v = VARIANTS[variant]
    gen = (f"tools/render/render_clips.py (anny body model, numba rasterizer; variant {v['id']}: "
           f"{v['skinning']} skinning, clothing geometry {'on' if v['cloth'] else 'off (painted)'})")
    gt, ctx = clip_ground_truth(name, specs, meta, bodyA, bodyB, cam, generator=gen)
    checks(name, gt, cam)
    t_gt = time.time() - t_start
    n = len(specs)
    # Clothing geometry (if the body has it) goes on the rendered meshes only; GT stays on the body.
    verts = bodyA.dress(ctx["verts"], ctx["Qs"])
    meshes_B = None if ctx["meshes_B"] is None else bodyB.dress(ctx["meshes_B"], ctx["QsB"])
    neutral, reps, stance_period = gt["neutral_frames"], gt["reps"], gt["stance_period"]
    # ---- render
    scene = raster.Scene(cam, scale=SSAA, seed=SEED)
    rng_noise = np.random.default_rng(SEED + 99)
    want_png = set()
    if png_dir is not None:
        want_png = {neutral[1] // 2}
        for rp in reps:
            want_png.add(rp["deepest_frame"])
        if stance_period:
            want_png.add((stance_period["start_frame"] + stance_period["end_frame"]) // 2)
        want_png.add(n - 1 if name == "two_people" else 0)

    def gen():
        for k in range(n):
            if preview and k not in want_png:
                continue
            meshes = [(verts[k], bodyA.faces, bodyA.albedo)]
            if meshes_B is not None:
                meshes.append((meshes_B[k], bodyB.faces, bodyB.albedo))
            img = scene.render(meshes)
            # A little sensor noise so the frames are not perfectly clean.
            noise = rng_noise.normal(0.0, 1.6, size=img.shape)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            if k in want_png:
                from PIL import Image

                Image.fromarray(img).save(png_dir / f"{name}_{k:04d}.png")
            yield img

    t0 = time.time()
    if preview:
        for _ in (k for k in gen() if False):
            pass
        return gt
    outdir.mkdir(parents=True, exist_ok=True)
    encode(gen(), outdir / f"{name}{suffix}.mp4", n)
    t_render = time.time() - t0
    with open(outdir / f"{name}{suffix}.gt.json", "w") as f:
        json.dump(gt, f, separators=(",", ":"))
    print(f"{name}{suffix}: {n} frames, pose+GT {t_gt:.1f}s, render+encode {t_render:.1f}s "
          f"({t_render / n:.3f} s/frame), {os.path.getsize(outdir / f'{name}{suffix}.mp4') / 1e3:.0f} kB",
          flush=True)
    return gt


def clip_ground_truth(name, specs, meta, bodyA, bodyB, cam, generator=None):
    """Pose, skin and project one clip; returns (gt dict, context with vertices etc.)."""
    n = len(specs)
    sol = [solve(bodyA, s) for s in specs]
    Qs = np.stack([q for q, _ in sol])
    roots = np.stack([r for _, r in sol])
    verts, heads_anny = bodyA.skin(Qs, roots)
    heads = np.stack([bodyA.fk_heads(q, r) for q, r in sol])
    err = np.abs(heads - heads_anny).max()
    assert err < 1e-4, f"numpy FK disagrees with anny by {err} m"
    # Ankle targets reached (stance feet do not slide).
    for k, s in enumerate(specs):
        for side in ("left", "right"):
            a = heads[k, bodyA.J[f"{side}_ankle"]]
            tgt = s.legs[side].ankle
            if s.yaw:
                tgt = Rz(s.yaw) @ tgt + s.offset
            else:
                tgt = tgt + s.offset
            assert np.linalg.norm(a - tgt) < 1e-6, (name, k, side)
    p3 = joints_from(bodyA, heads, verts)
    coco = bodyA.coco_points(verts)
    meshes_B = QsB = None
    if meta.get("specsB") is not None:
        solB = [solve(bodyB, s) for s in meta["specsB"]]
        QsB = np.stack([q for q, _ in solB])
        vB, _ = bodyB.skin(QsB, np.stack([r for _, r in solB]))
        meshes_B = vB
        headsB = np.stack([bodyB.fk_heads(q, r) for q, r in solB])
        p3B = joints_from(bodyB, headsB, vB)
    # ---- ground truth
    frames = []
    for k in range(n):
        pk3 = {j: p3[j][k] for j in JOINTS}
        pk2 = {j: cam.project(pk3[j])[0] for j in JOINTS}
        d = derived(pk2, pk3)
        fr = {"frame": k, "t": round(k / FPS, 4)}
        fr["joints_2d"] = {j: r2(pk2[j]) for j in JOINTS}
        mh = 0.5 * (pk2["left_hip"] + pk2["right_hip"])
        ms = 0.5 * (pk2["left_shoulder"] + pk2["right_shoulder"])
        fr["joints_2d"]["mid_hip"] = r2(mh)
        fr["joints_2d"]["mid_shoulder"] = r2(ms)
        fr["joints_3d"] = {j: r2(pk3[j], 3) for j in JOINTS}
        for key, val in d.items():
            fr[key] = round(val, 3)
        # Second convention: anny's COCO surface keypoints (closer to what annotators click).
        cp2 = {}
        for j, cj in COCO_MAP.items():
            cp2[j] = cam.project(coco[k, bodyA.coco_labels.index(cj)])[0]
        fr["surface_keypoints_2d"] = {j: r2(v) for j, v in cp2.items()}
        fr["knee_fppa_left_surface_deg"] = round(fppa(cp2["left_hip"], cp2["left_knee"], cp2["left_ankle"], "left"), 3)
        fr["knee_fppa_right_surface_deg"] = round(fppa(cp2["right_hip"], cp2["right_knee"], cp2["right_ankle"], "right"), 3)
        fr["pelvic_obliquity_surface_deg"] = round(math.degrees(math.atan2(
            cp2["left_hip"][1] - cp2["right_hip"][1], cp2["left_hip"][0] - cp2["right_hip"][0])), 3)
        fr["left_ankle_height_m"] = round(float(pk3["left_ankle"][2]), 4)
        fr["right_ankle_height_m"] = round(float(pk3["right_ankle"][2]), 4)
        if meshes_B is not None:
            fr["second_person_joints_2d"] = {j: r2(cam.project(p3B[j][k])[0]) for j in JOINTS}
        frames.append(fr)
    # Reps / stance period / neutral baseline.
    reps = []
    stance = meta["stance_side"]
    for (t0, tb, t1) in meta.get("reps_t", []):
        f0, f1 = int(math.ceil(t0 * FPS)), min(int(math.floor(t1 * FPS)), n - 1)
        side = stance or "left"
        flex = [frames[k][f"knee_flexion_{side}_deg"] for k in range(f0, f1 + 1)]
        kd = f0 + int(np.argmax(flex))
        reps.append({"start_frame": f0, "deepest_frame": kd, "end_frame": f1,
                     "knee_flexion_deg_at_deepest": round(max(flex), 2)})
    stance_period = None
    if stance is not None:
        free = "right" if stance == "left" else "left"
        z0 = frames[0][f"{free}_ankle_height_m"]
        up = [k for k in range(n) if frames[k][f"{free}_ankle_height_m"] > z0 + 0.02]
        stance_period = {"start_frame": up[0], "end_frame": up[-1]}
    # Neutral: every frame before any motion (depth, lift or shift) starts.
    first_motion = n
    for k in range(1, n):
        if np.abs(heads[k] - heads[0]).max() > 1e-6:
            first_motion = k
            break
    neutral = [0, first_motion - 1] if name != "two_people" else [0, n - 1]
    gt = {
        "clip": f"{name}.mp4",
        "generator": generator or "tools/render/render_clips.py (anny body model, numba rasterizer)",
        "fps": FPS, "width": cam.width, "height": cam.height, "n_frames": n,
        "test": meta["test"], "stance_side": stance, "view": meta["view"],
        "reps": reps, "stance_period": stance_period, "neutral_frames": neutral,
        "camera": {"focal_px": cam.focal, "principal_point_px": [cam.width / 2, cam.height / 2],
                   "position_m": [float(x) for x in cam.position], "height_m": float(cam.position[2]),
                   "distance_m": float(math.hypot(cam.position[0], cam.position[1])),
                   "yaw_deg": float(cam.yaw_deg), "pitch_deg": float(cam.pitch_deg), "roll_deg": 0.0,
                   "subject_yaw_deg": meta.get("yaw", 0.0),
                   "subject_offset_m": r2(specs[0].offset, 3),
                   "world_frame": "z up, floor z=0, subject at origin facing -y (towards the camera), subject's left = +x"},
        "body": {"model": f"anny (NAVER Labs, Apache-2.0), pose_parameterization=world-orient, skinning={bodyA.skinning}",
                 "phenotype": bodyA.phenotype,
                 "height_m": round(float(verts[0][:, 2].max()), 3),
                 "thigh_length_m": {s: round(float(bodyA.l_thigh[s]), 4) for s in ("left", "right")},
                 "shank_length_m": {s: round(float(bodyA.l_shank[s]), 4) for s in ("left", "right")}},
        "conventions": {
            "image": "pixels of this video, x right, y DOWN; pixel centres at integer + 0.5",
            "sides": "left/right are the subject's own sides; facing the camera the subject's left is on the IMAGE RIGHT",
            "joint_centres": "hip=upperleg01 head, knee=lowerleg01 head, ankle=foot head, shoulder=upperarm01 head of the anny rig; heel/toe = fixed mesh vertices (most posterior / most anterior point of the foot)",
            "knee_fppa_deg": "180 - angle(hip, knee, ankle) in the image; + = knee MEDIAL to the hip->ankle line (valgus), - lateral",
            "pelvic_obliquity_deg": "angle of the left-hip - right-hip line against horizontal; + = subject's LEFT hip LOWER in the image",
            "trunk_lean_deg": "angle of the mid-hip -> mid-shoulder line against vertical; + = shoulders towards the SUBJECT's LEFT (image right). NB: a lean towards a RIGHT stance leg is negative here",
            "knee_flexion_deg": "3D, 180 - angle(hip, knee, ankle) from the joint centres (the rest pose itself has ~3-5 deg)",
            "surface_keypoints_2d": "anny COCO keypoint regressor (surface landmarks); a second ground-truth convention",
        },
        "frames": frames,
    }
    if meshes_B is not None:
        gt["second_person"] = {"phenotype": bodyB.phenotype, "position_offset_m": [0.36, 0.25, 0.0]}
        gt["people_in_view"] = 2
    else:
        gt["people_in_view"] = 1
    for key in ("swivel_deg", "drop_param_deg", "lean_param_deg"):
        if key in meta:
            gt.setdefault("generator_parameters", {})[key] = round(float(meta[key]), 4)
    return gt, {"verts": verts, "meshes_B": meshes_B, "Qs": Qs, "QsB": QsB, "heads": heads}


def checks(name, gt, cam):
    """Unit checks of the sign conventions on the generated ground truth."""
    fr = gt["frames"]
    f0 = fr[0]
    j = f0["joints_2d"]
    # Facing the camera the subject's left is on the image right (side view excepted).
    if gt["view"] == "frontal":
        assert j["left_hip"][0] > j["right_hip"][0], "left hip must be on the image right"
        assert j["left_shoulder"][1] < j["left_hip"][1] < j["left_knee"][1] < j["left_ankle"][1], "y must point down"
        assert abs(f0["pelvic_obliquity_deg"]) < 0.5 and abs(f0["trunk_lean_deg"]) < 0.5
        for s in ("left", "right"):
            assert abs(f0[f"knee_fppa_{s}_deg"]) < 6.0, f0
    if name == "single_leg_squat_left_valgus":
        for rp in gt["reps"]:
            k = rp["deepest_frame"]
            assert abs(fr[k]["knee_fppa_left_deg"] - SLS_FPPA) < 0.05, fr[k]["knee_fppa_left_deg"]
        k = gt["reps"][0]["deepest_frame"]
        # The left knee collapses towards the midline: the image LEFT (smaller x) relative to its hip-ankle line.
        jk = fr[k]["joints_2d"]
        t = (jk["left_knee"][1] - jk["left_hip"][1]) / (jk["left_ankle"][1] - jk["left_hip"][1])
        x_line = jk["left_hip"][0] + t * (jk["left_ankle"][0] - jk["left_hip"][0])
        assert jk["left_knee"][0] < x_line, "valgus left knee must lie image-left of the hip-ankle line"
        s = gt["reps"][0]["start_frame"]
        assert jk["left_knee"][0] < fr[s]["joints_2d"]["left_knee"][0], "left knee x must move towards the midline"
        assert 55 < rp["knee_flexion_deg_at_deepest"] < 65, rp
    if name == "double_leg_squat":
        for rp in gt["reps"]:
            assert 85 < rp["knee_flexion_deg_at_deepest"] < 95, rp
    if name == "single_leg_stance_right":
        sp = gt["stance_period"]
        mid = fr[(sp["start_frame"] + sp["end_frame"]) // 2]
        jm = mid["joints_2d"]
        # Left (unsupported) hip lower = larger y; positive obliquity.
        assert jm["left_hip"][1] > jm["right_hip"][1] and mid["pelvic_obliquity_deg"] > 4.5
        # Trunk leans towards the right (stance) side: shoulders towards image LEFT: negative.
        assert jm["mid_shoulder"][0] < jm["mid_hip"][0] and mid["trunk_lean_deg"] < -2.5
        assert mid["left_ankle_height_m"] > mid["right_ankle_height_m"] + 0.12


def main():
    global SLS_FPPA
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # From a checkout: <repo>/test_videos; when installed as a package: ./test_videos.
    default_out = REPO / "test_videos" if (REPO / "test_videos").is_dir() else Path("test_videos")
    ap.add_argument("--out", default=str(default_out))
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--frames-png", default=None, help="also save a few sample frames as PNG here")
    ap.add_argument("--preview", action="store_true", help="only render the PNG frames (needs --frames-png)")
    ap.add_argument("--variant", default=DEFAULT_VARIANT, choices=sorted(VARIANTS),
                    help=f"renderer variant (default {DEFAULT_VARIANT}; lbs_paint = the older committed clips)")
    ap.add_argument("--fps", type=int, default=FPS, help=f"frame rate (default {FPS}); timing is in seconds, so "
                    "a 60 fps clip shows the same movement with twice the frames")
    ap.add_argument("--scale", type=int, default=1, help=f"multiply the size ({WIDTH}x{HEIGHT}) and the focal "
                    "length by this (2 = 1080x1920, the same picture at phone resolution)")
    ap.add_argument("--sls-fppa", type=float, default=SLS_FPPA, help=f"left-knee FPPA (deg, joint centres) at "
                    f"each deepest frame of single_leg_squat_left_valgus (default {SLS_FPPA:g})")
    ap.add_argument("--suffix", default="", help="appended to each clip's file name, e.g. _1080p60")
    args = ap.parse_args()
    set_format(args.fps, args.scale)
    SLS_FPPA = args.sls_fppa
    names = args.only or CLIPS
    png = Path(args.frames_png) if args.frames_png else None
    if png:
        png.mkdir(parents=True, exist_ok=True)
    t = time.time()
    v = VARIANTS[args.variant]
    bodyA = Body(PHENOTYPE, skinning=v["skinning"], clothing_geometry=v["cloth"])
    rigA = Rig(bodyA)
    bodyB = rigB = None
    if "two_people" in names:
        bodyB = Body(PHENOTYPE_B, shirt=SHIRT_B, skinning=v["skinning"], clothing_geometry=v["cloth"])
        rigB = Rig(bodyB, stance_half_width=0.14)
    print(f"model setup {time.time() - t:.1f}s", flush=True)
    for nm in names:
        run_clip(nm, bodyA, rigA, bodyB, rigB, Path(args.out), png, preview=args.preview, variant=args.variant,
                 suffix=args.suffix)
    print(f"variant {args.variant}, total {time.time() - t:.1f}s")


if __name__ == "__main__":
    main()
