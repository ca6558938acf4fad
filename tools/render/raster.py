"""A small CPU z-buffer rasterizer (numba) for the chainscan sample clips.

Everything is shaded per vertex (Gouraud): Lambert key + fill light, hemispheric
ambient, and a shadow map for the key light.  Floor (z = 0) and back wall
(y = WALL_Y) are ray-cast per pixel.  World frame: z up, the subject at the
origin facing -y; the pinhole camera looks along its own yaw direction.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def raster_tris(px, py, pz, col, faces, zbuf, img):
    """Rasterize triangles with per-vertex colours into img (H, W, 3) float32.

    px, py: pixel coords of vertices (pixel centres at integer + 0.5);
    pz: depth (smaller = nearer); col: (V, 3) colours, or (1, 3) dummy when
    img has zero channels (depth-only pass).
    """
    H, W = zbuf.shape
    do_col = img.shape[2] > 0
    for f in range(faces.shape[0]):
        i0 = faces[f, 0]
        i1 = faces[f, 1]
        i2 = faces[f, 2]
        x0 = px[i0]
        y0 = py[i0]
        x1 = px[i1]
        y1 = py[i1]
        x2 = px[i2]
        y2 = py[i2]
        z0 = pz[i0]
        z1 = pz[i1]
        z2 = pz[i2]
        if z0 <= 0 or z1 <= 0 or z2 <= 0:
            continue
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-12:
            continue
        xmin = max(int(math.floor(min(x0, min(x1, x2)))), 0)
        xmax = min(int(math.ceil(max(x0, max(x1, x2)))), W - 1)
        ymin = max(int(math.floor(min(y0, min(y1, y2)))), 0)
        ymax = min(int(math.ceil(max(y0, max(y1, y2)))), H - 1)
        if xmin > xmax or ymin > ymax:
            continue
        inv = 1.0 / area
        for yy in range(ymin, ymax + 1):
            cy = yy + 0.5
            for xx in range(xmin, xmax + 1):
                cx = xx + 0.5
                w0 = ((x1 - cx) * (y2 - cy) - (x2 - cx) * (y1 - cy)) * inv
                w1 = ((x2 - cx) * (y0 - cy) - (x0 - cx) * (y2 - cy)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < 0 or w1 < 0 or w2 < 0:
                    continue
                z = w0 * z0 + w1 * z1 + w2 * z2
                if z < zbuf[yy, xx]:
                    zbuf[yy, xx] = z
                    if do_col:
                        for c in range(3):
                            img[yy, xx, c] = (
                                w0 * col[i0, c] + w1 * col[i1, c] + w2 * col[i2, c]
                            )


@njit(cache=True)
def shadow_lookup(zmap, sx, sy, sz, bias):
    """Percentage-closer filtered (3x3) lit fraction for points in light space."""
    H, W = zmap.shape
    n = sx.shape[0]
    out = np.ones(n, dtype=np.float32)
    for i in range(n):
        xi = int(sx[i])
        yi = int(sy[i])
        lit = 0.0
        cnt = 0.0
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                x = xi + dx
                y = yi + dy
                cnt += 1.0
                if x < 0 or y < 0 or x >= W or y >= H:
                    lit += 1.0
                elif sz[i] - bias <= zmap[y, x]:
                    lit += 1.0
        out[i] = lit / cnt
    return out


def vertex_normals(v, faces):
    a = v[faces[:, 0]]
    b = v[faces[:, 1]]
    c = v[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    n = np.zeros_like(v)
    for k in range(3):
        for j in range(3):
            n[:, j] += np.bincount(faces[:, k], weights=fn[:, j], minlength=len(v))
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    return n


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x)


class Camera:
    """Pinhole camera. yaw 0 looks along +y (the subject faces -y, i.e. the camera)."""

    def __init__(self, width, height, focal, position, yaw_deg=0.0, pitch_deg=0.0):
        self.width = width
        self.height = height
        self.focal = focal
        self.position = np.asarray(position, dtype=np.float64)
        self.yaw_deg = yaw_deg
        self.pitch_deg = pitch_deg
        yaw = math.radians(yaw_deg)
        pitch = math.radians(pitch_deg)
        fwd = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
        right = _unit(np.cross(fwd, [0.0, 0.0, 1.0]))
        down = np.cross(fwd, right)
        self.R = np.stack([right, down, fwd])  # rows: camera x (right), y (down), z (forward)

    def to_cam(self, p):
        return (np.asarray(p, dtype=np.float64) - self.position) @ self.R.T

    def project(self, p, scale=1.0):
        """World points (..., 3) -> pixel (..., 2) with x right, y down, and depth."""
        c = self.to_cam(p)
        f = self.focal * scale
        u = f * c[..., 0] / c[..., 2] + self.width * scale / 2.0
        v = f * c[..., 1] / c[..., 2] + self.height * scale / 2.0
        return np.stack([u, v], axis=-1), c[..., 2]

    def rays(self, scale=1.0):
        W = int(self.width * scale)
        H = int(self.height * scale)
        f = self.focal * scale
        xs = (np.arange(W) + 0.5 - W / 2.0) / f
        ys = (np.arange(H) + 0.5 - H / 2.0) / f
        X, Y = np.meshgrid(xs, ys)
        d = X[..., None] * self.R[0] + Y[..., None] * self.R[1] + self.R[2]
        return d  # (H, W, 3), not normalised


class Scene:
    # Default look (the committed sample clips); render_grid.py varies it per clip.
    DEFAULT_LOOK = dict(
        key_dir=(-0.45, -0.75, 0.85),  # towards the key light: camera side, left (image), above
        fill_dir=(0.7, -0.6, 0.25),
        key=0.72, fill=0.22, sky=0.42, ground=0.22,
        wall=(0.80, 0.78, 0.74), skirting=(0.93, 0.92, 0.90), floor=(0.62, 0.50, 0.38),
        plank_width=0.16, vignette=0.35,
    )

    def __init__(self, camera, scale=2, wall_y=1.6, seed=0, look=None):
        self.cam = camera
        self.scale = scale
        self.wall_y = wall_y
        lk = dict(self.DEFAULT_LOOK)
        lk.update(look or {})
        self.look = lk
        self.key_dir = _unit(list(lk["key_dir"]))
        self.fill_dir = _unit(list(lk["fill_dir"]))
        self.key = lk["key"]
        self.fill = lk["fill"]
        self.sky = lk["sky"]
        self.ground = lk["ground"]
        # Light-space basis for the orthographic shadow map.
        l = -self.key_dir
        e1 = _unit(np.cross(l, [0.0, 0.0, 1.0]))
        e2 = np.cross(l, e1)
        self.light_basis = np.stack([e1, e2, l])
        self.smap_res = 1024
        self.smap_extent = 2.4  # metres covered on each side of the centre
        self.smap_center = np.array([0.0, 0.0, 0.9])
        rng = np.random.default_rng(seed)
        self._background_cache = None
        self._noise = rng.normal(0.0, 1.0, size=(64, 64)).astype(np.float32)

    # ---- shadow map -------------------------------------------------------------------
    def _light_coords(self, p):
        q = (p - self.smap_center) @ self.light_basis.T
        k = self.smap_res / (2 * self.smap_extent)
        return q[..., 0] * k + self.smap_res / 2, q[..., 1] * k + self.smap_res / 2, q[..., 2]

    def shadow_map(self, verts, faces):
        sx, sy, sz = self._light_coords(verts)
        zmap = np.full((self.smap_res, self.smap_res), np.inf, dtype=np.float64)
        dummy = np.zeros((1, 1, 0), dtype=np.float32)
        raster_tris(sx, sy, sz + 100.0, np.zeros((1, 3), np.float32), faces, zmap, dummy)
        zmap -= 100.0
        return zmap

    def lit_fraction(self, zmap, p, bias=0.02):
        shp = p.shape[:-1]
        p = p.reshape(-1, 3)
        sx, sy, sz = self._light_coords(p)
        return shadow_lookup(zmap, sx, sy, sz, bias).reshape(shp)

    # ---- shading ----------------------------------------------------------------------
    def shade(self, albedo, normals, lit):
        nk = np.clip(normals @ self.key_dir, 0.0, None)
        nf = np.clip(normals @ self.fill_dir, 0.0, None)
        hemi = 0.5 * (1.0 + normals[..., 2])
        amb = self.ground + (self.sky - self.ground) * hemi
        light = amb + self.key * nk * lit + self.fill * nf
        return albedo * light[..., None]

    def _background_static(self):
        """Per-pixel floor/wall geometry and the unshadowed light terms (computed once)."""
        cam = self.cam
        d = cam.rays(self.scale)
        o = cam.position
        H, W = d.shape[:2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_floor = np.where(d[..., 2] < -1e-9, -o[2] / d[..., 2], np.inf)
            t_wall = np.where(np.abs(d[..., 1]) > 1e-9, (self.wall_y - o[1]) / d[..., 1], np.inf)
        t_wall = np.where(t_wall > 0, t_wall, np.inf)
        is_floor = t_floor < t_wall
        t = np.where(is_floor, t_floor, t_wall)
        t = np.where(np.isfinite(t), t, 50.0)
        p = o + d * t[..., None]
        normal = np.where(is_floor[..., None], np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0]))
        # Albedo: warm grey wall with a skirting board, light wooden floor with planks.
        wall = np.array(self.look["wall"], dtype=np.float64)
        skirting = np.array(self.look["skirting"], dtype=np.float64)
        floor = np.array(self.look["floor"], dtype=np.float64)
        plank = 0.04 * np.sin(p[..., 0] * 2 * np.pi / self.look["plank_width"]) ** 8
        grain = 0.025 * np.sin(p[..., 1] * 37.0 + 3.0 * np.sin(p[..., 0] * 5.0))
        floor_alb = floor[None, None, :] * (1.0 - plank - grain)[..., None]
        wall_alb = np.where((p[..., 2] < 0.10)[..., None], skirting, wall)
        alb = np.where(is_floor[..., None], floor_alb, wall_alb)
        # Soft falloff of the light towards the corners (a lamp, not the sun).
        r2 = ((np.arange(W) - W / 2) / W)[None, :] ** 2 + ((np.arange(H) - H / 2) / H)[:, None] ** 2
        vign = (1.0 - self.look["vignette"] * r2)[..., None]
        unlit = self.shade(alb, normal, np.zeros(p.shape[:2])) * vign
        key = self.shade(alb, normal, np.ones(p.shape[:2])) * vign - unlit
        depth = np.sum((p - o) * cam.R[2], axis=-1)
        q = (p + normal * 0.005).reshape(-1, 3)
        sx, sy, sz = self._light_coords(q)
        self._bg = dict(
            unlit=unlit.astype(np.float32), key=key.astype(np.float32), depth=depth,
            sx=np.ascontiguousarray(sx), sy=np.ascontiguousarray(sy), sz=np.ascontiguousarray(sz),
        )

    def background(self, zmap):
        if self._background_cache is None:
            self._background_static()
            self._background_cache = True
        bg = self._bg
        lit = shadow_lookup(zmap, bg["sx"], bg["sy"], bg["sz"], 0.01).reshape(bg["depth"].shape)
        img = bg["unlit"] + bg["key"] * lit[..., None]
        return img, bg["depth"]

    def render(self, meshes):
        """meshes: list of (verts (V,3) world, faces (F,3) int64, albedo (V,3)). Returns uint8 (H, W, 3)."""
        cam = self.cam
        s = self.scale
        all_v = np.concatenate([m[0] for m in meshes])
        offs = np.cumsum([0] + [len(m[0]) for m in meshes])
        all_f = np.concatenate([m[1] + offs[i] for i, m in enumerate(meshes)]).astype(np.int64)
        all_a = np.concatenate([m[2] for m in meshes])
        zmap = self.shadow_map(all_v, all_f)
        img, bg_depth = self.background(zmap)
        n = vertex_normals(all_v, all_f)
        lit = self.lit_fraction(zmap, all_v + n * 0.01, bias=0.015)
        col = self.shade(all_a, n, lit).astype(np.float32)
        uv, z = cam.project(all_v, scale=s)
        zbuf = np.full(img.shape[:2], np.inf, dtype=np.float64)
        body = np.zeros(img.shape, dtype=np.float32)
        raster_tris(uv[:, 0], uv[:, 1], z, col, all_f, zbuf, body)
        mask = np.isfinite(zbuf) & (zbuf < bg_depth)
        img = np.where(mask[..., None], body, img)
        img = np.clip(img, 0.0, 1.0)
        if s > 1:
            H, W = img.shape[0] // s, img.shape[1] // s
            acc = np.zeros((H, W, 3), dtype=np.float32)
            for dy in range(s):
                for dx in range(s):
                    acc += img[dy::s, dx::s]
            img = acc / np.float32(s * s)
        # Gamma-ish tone curve, to 8 bit.
        img = np.clip(img, 0, 1) ** (1 / 1.15)
        return (img * 255.0 + 0.5).astype(np.uint8)
