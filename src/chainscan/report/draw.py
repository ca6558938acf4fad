"""Drawing helpers shared by the annotated video and the key frames.

Everything draws on upright RGB uint8 frames (H, W, 3) in the pixels of the PoseSequence (x right,
y down). Lines and dots are drawn with OpenCV (anti-aliased); text with Pillow and a TrueType font
(OpenCV's Hershey fonts have no "°"), always on a dark box and with a dark outline, sized from the
frame so that it reads on 540×960 as on 1080×1920. Labels are placed so that they stay inside the
frame and do not overlap each other.

Colours follow the finding they illustrate: green ``ok``, amber ``mild``, red ``marked``, grey
``unknown`` or not evaluated.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
RGB = tuple[int, int, int]

SEVERITY_RGB: dict[str, RGB] = {
    "ok": (64, 210, 96),
    "mild": (255, 184, 28),
    "marked": (255, 72, 60),
    "unknown": (176, 176, 176),
}
NOT_EVALUATED: RGB = SEVERITY_RGB["unknown"]
SEVERITY_WORDS = {"ok": "ok", "mild": "mild", "marked": "marked", "unknown": "not rated"}
BONE_RGB: RGB = (236, 236, 236)
DARK: RGB = (16, 16, 16)
TEXT_RGB: RGB = (245, 245, 245)
MUTED_RGB: RGB = (200, 200, 200)

_SEVERITY_RANK = {"ok": 0, "mild": 1, "marked": 2}


def worst_severity(severities: Sequence[str]) -> str | None:
    """The worst of ok/mild/marked; "unknown" if only unknowns; None if nothing was evaluated."""
    rated = [s for s in severities if s in _SEVERITY_RANK]
    if rated:
        return max(rated, key=_SEVERITY_RANK.__getitem__)
    return "unknown" if severities else None


def severity_rgb(severity: str | None) -> RGB:
    return SEVERITY_RGB.get(severity or "unknown", NOT_EVALUATED)


def _cv2():
    from ..io.video import _cv2 as load  # lazy, and with FFmpeg's log level set like the reader does

    return load()


@dataclass(frozen=True)
class Style:
    """Sizes in pixels for one frame size: a 540-px-wide portrait frame has ``scale`` 1."""

    scale: float
    font_px: int
    small_px: int
    bone_px: int
    accent_px: int
    joint_r: int
    pad: int
    gap: int

    @classmethod
    def for_frame(cls, width: int, height: int) -> Style:
        s = max(min(width, height) / 540.0, 0.45)
        return cls(scale=s, font_px=max(11, round(19 * s)), small_px=max(10, round(15 * s)),
                   bone_px=max(1, round(2.5 * s)), accent_px=max(2, round(5 * s)),
                   joint_r=max(2, round(4 * s)), pad=max(2, round(6 * s)), gap=max(3, round(10 * s)))

    @property
    def outline_px(self) -> int:
        return max(1, round(1.5 * self.scale))


# ---------------------------------------------------------------------------------------------------
# fonts


def _font_file(bold: bool) -> str | None:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    spec = importlib.util.find_spec("matplotlib")  # matplotlib ships DejaVu Sans; found without importing it
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "mpl-data" / "fonts" / "ttf" / name)
    candidates.append(Path("/usr/share/fonts/truetype/dejavu") / name)
    for c in candidates:
        if c.is_file():
            return str(c)
    return None


@lru_cache(maxsize=32)
def font(size: int, bold: bool = True):
    """A TrueType font of ``size`` px (DejaVu Sans; Pillow's default font if that is missing)."""
    from PIL import ImageFont

    path = _font_file(bold)
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def _advance(ch: str, fnt) -> float:
    return float(fnt.getlength(ch))


def text_width(text: str, fnt) -> int:
    """Width of ``text`` in px: the sum of its characters' advances (cached per character, as
    ``text_sprite`` lays glyphs out), so per-frame texts such as angles cost no font call."""
    return int(np.ceil(sum(_advance(ch, fnt) for ch in text)))


def line_height(fnt) -> int:
    ascent, descent = fnt.getmetrics()
    return int(ascent + descent)


def wrap(text: str, fnt, max_width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``max_width`` px (a long word stays whole)."""
    lines: list[str] = []
    for para in text.split("\n"):
        cur = ""
        for word in para.split(" "):
            trial = f"{cur} {word}" if cur else word
            if cur and text_width(trial, fnt) > max_width:
                lines.append(cur)
                cur = word
            else:
                cur = trial
        lines.append(cur)
    return lines


# ---------------------------------------------------------------------------------------------------
# the canvas: shapes now, boxes and text at the end


@dataclass
class _Text:
    x: int
    y: int
    text: str
    size: int
    bold: bool
    fill: RGB


@dataclass
class Canvas:
    """Collects what goes on one frame. Lines are drawn at once; boxes, dots and text by ``finish``.

    ``taken`` holds the rectangles already used by labels and panels, so later labels avoid them.
    """

    rgb: np.ndarray
    style: Style
    taken: list[Rect] = field(default_factory=list)
    _boxes: list[tuple[Rect, float]] = field(default_factory=list)
    _dots: list[tuple[tuple[int, int], int, RGB]] = field(default_factory=list)
    _texts: list[_Text] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    # -- shapes (drawn immediately, under the labels)
    def line(self, p: np.ndarray, q: np.ndarray, colour: RGB, thickness: int, *, outline: bool = True) -> None:
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return
        cv2 = _cv2()
        a, b = _pt(p), _pt(q)
        if outline:
            cv2.line(self.rgb, a, b, DARK, thickness + 2 * self.style.outline_px, cv2.LINE_AA)
        cv2.line(self.rgb, a, b, colour, thickness, cv2.LINE_AA)

    def dashed(self, p: np.ndarray, q: np.ndarray, colour: RGB, thickness: int) -> None:
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return
        length = float(np.hypot(*(np.asarray(q, float) - np.asarray(p, float))))
        dash = max(4.0, 8 * self.style.scale)
        n = int(length // (2 * dash))
        for k in range(n + 1):
            u0, u1 = (2 * k * dash) / max(length, 1e-9), min((2 * k + 1) * dash / max(length, 1e-9), 1.0)
            if u0 >= 1:
                break
            self.line(p + (q - p) * u0, p + (q - p) * u1, colour, thickness, outline=False)

    def joint(self, p: np.ndarray, colour: RGB, radius: int) -> None:
        if not np.all(np.isfinite(p)):
            return
        cv2 = _cv2()
        cv2.circle(self.rgb, _pt(p), radius + self.style.outline_px, DARK, -1, cv2.LINE_AA)
        cv2.circle(self.rgb, _pt(p), radius, colour, -1, cv2.LINE_AA)

    # -- deferred: boxes, dots, text
    def panel(self, rect: Rect, alpha: float = 0.62) -> None:
        self._boxes.append((self._clip(rect), alpha))
        self.taken.append(rect)

    def dot(self, centre: tuple[int, int], radius: int, colour: RGB) -> None:
        self._dots.append((centre, radius, colour))

    def text(self, x: int, y: int, text: str, *, size: int, bold: bool = True, fill: RGB = TEXT_RGB) -> None:
        self._texts.append(_Text(int(x), int(y), text, size, bold, fill))

    def label(self, anchor: np.ndarray, text: str, colour: RGB, *, prefer: Sequence[str] = ("right", "left"),
              size: int | None = None, offset: float = 0.0) -> Rect | None:
        """A one-line label in a dark box beside ``anchor`` (x, y): the first side in ``prefer``
        ("right", "left", "above", "below") where it fits inside the frame (pushed in from the edge if
        need be, as long as it leaves the anchor visible) without covering another label; otherwise the
        first side, pushed inside the frame. ``offset`` adds distance from the anchor."""
        if not np.all(np.isfinite(anchor)):
            return None
        size = size or self.style.font_px
        fnt = font(size)
        st = self.style
        w = text_width(text, fnt) + 2 * st.pad
        h = line_height(fnt) + st.pad
        ax, ay = float(anchor[0]), float(anchor[1])
        g = st.gap + offset
        cands: list[Rect] = []
        for side in prefer:
            if side == "right":
                x0, y0 = ax + g, ay - h / 2
            elif side == "left":
                x0, y0 = ax - g - w, ay - h / 2
            elif side == "above":
                x0, y0 = ax - w / 2, ay - g - h
            else:
                x0, y0 = ax - w / 2, ay + g
            cands.append((round(x0), round(y0), round(x0) + w, round(y0) + h))
        chosen = None
        for r in cands:  # a side that fits, else the same side pushed inside the frame if it stays clear
            if not self._inside(r):
                r = self._push_inside(r)
                if r[0] - st.pad <= ax <= r[2] + st.pad and r[1] - st.pad <= ay <= r[3] + st.pad:
                    continue
            if not self._overlaps(r):
                chosen = r
                break
        if chosen is None:
            chosen = self._push_inside(cands[0])
        self.panel(chosen)
        self.text(chosen[0] + st.pad, chosen[1] + st.pad // 2, text, size=size, fill=colour)
        return chosen

    def text_block(self, x: int, y: int, lines: Sequence[tuple[str, int, RGB]], *, width: int | None = None,
                   bottom: bool = False, alpha: float = 0.62) -> Rect:
        """Lines ``(text, size, colour)`` in one dark box with its top-left (or bottom-left when
        ``bottom``) corner at (x, y). Long lines wrap to ``width`` (default: the frame width less margins).
        A line whose text starts with "\u25cf " is a bullet: a dot of ``colour``, then the text in white
        (wrapped lines indented under it)."""
        st = self.style
        laid, box_w, box_h = self.measure_block(lines, width or self.width - 2 * x)
        y0 = y - box_h if bottom else y
        rect = (int(x), int(y0), int(x + box_w), int(y0 + box_h))
        self.panel(rect, alpha)
        cy = y0 + st.pad
        for t, s, colour, dot, indent in laid:
            lh = line_height(font(s))
            if dot is not None:
                r = max(2, round(lh * 0.28))
                self.dot((int(x + st.pad + r), int(cy + lh * 0.55)), r, dot)
            self.text(x + st.pad + indent, cy, t, size=s, fill=colour)
            cy += lh
        return rect

    def measure_block(self, lines: Sequence[tuple[str, int, RGB]], width: int
                      ) -> tuple[list[tuple[str, int, RGB, RGB | None, int]], int, int]:
        """Wrapped lines ``(text, size, text colour, dot colour or None, indent px)`` of a text block
        at most ``width`` wide, and the block's width and height in px."""
        st = self.style
        max_w = width - 2 * st.pad
        laid: list[tuple[str, int, RGB, RGB | None, int]] = []
        for text, size, colour in lines:
            fnt = font(size)
            bullet = text.startswith("\u25cf ")
            body = text[2:] if bullet else text
            indent = line_height(fnt) if bullet else 0
            for k, ln in enumerate(wrap(body, fnt, max_w - indent)):
                laid.append((ln, size, TEXT_RGB if bullet else colour, colour if bullet and k == 0 else None, indent))
        widths = [text_width(t, font(s)) + ind for t, s, _, _, ind in laid]
        box_w = min(max(widths, default=0) + 2 * st.pad, width)
        box_h = sum(line_height(font(s)) for _, s, _, _, _ in laid) + 2 * st.pad
        return laid, int(box_w), int(box_h)

    def finish(self) -> np.ndarray:
        """Draw the boxes, dots and text; returns the frame (the same array, drawn on)."""
        cv2 = _cv2()
        for (x0, y0, x1, y1), alpha in self._boxes:
            if x1 <= x0 or y1 <= y0:
                continue
            roi = self.rgb[y0:y1, x0:x1]
            roi[:] = cv2.convertScaleAbs(roi, alpha=1.0 - alpha, beta=12.0 * alpha)  # darken towards 12
        for centre, radius, colour in self._dots:
            cv2.circle(self.rgb, centre, radius + self.style.outline_px, DARK, -1, cv2.LINE_AA)
            cv2.circle(self.rgb, centre, radius, colour, -1, cv2.LINE_AA)
        for t in self._texts:
            sprite, mask, (dx, dy) = text_sprite(t.text, t.size, t.bold, t.fill, self.style.outline_px)
            _blend(self.rgb, sprite, mask, t.x + dx, t.y + dy)
        return self.rgb

    # -- geometry
    def _inside(self, r: Rect) -> bool:
        return r[0] >= 0 and r[1] >= 0 and r[2] <= self.width and r[3] <= self.height

    def _overlaps(self, r: Rect) -> bool:
        return any(r[0] < t[2] and t[0] < r[2] and r[1] < t[3] and t[1] < r[3] for t in self.taken)

    def _push_inside(self, r: Rect) -> Rect:
        """``r`` moved inside the frame, keeping a small margin from its edges where there is room."""
        w, h = r[2] - r[0], r[3] - r[1]
        m = self.style.pad
        x0 = min(max(r[0], m), self.width - w - m) if w + 2 * m <= self.width else max((self.width - w) // 2, 0)
        y0 = min(max(r[1], m), self.height - h - m) if h + 2 * m <= self.height else max((self.height - h) // 2, 0)
        return (x0, y0, x0 + w, y0 + h)

    def _clip(self, r: Rect) -> Rect:
        return (max(r[0], 0), max(r[1], 0), min(r[2], self.width), min(r[3], self.height))


def severity_legend(c: Canvas, note: str = "") -> Rect:
    """The severity colours (and a ``note`` line) in a box at the bottom left; returns the box."""
    st = c.style
    fnt = font(st.small_px)
    lh = line_height(fnt)
    r = max(2, round(lh * 0.28))
    items = [(SEVERITY_WORDS[k], SEVERITY_RGB[k]) for k in ("ok", "mild", "marked", "unknown")]
    widths = [lh + text_width(t, fnt) + st.gap for t, _ in items]
    max_w = c.width - 2 * st.gap - 2 * st.pad
    rows: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):  # wrap the entries on narrow frames
        if rows[-1] and used + w > max_w:
            rows.append([])
            used = 0
        rows[-1].append(i)
        used += w
    box_w = max(max(sum(widths[i] for i in rw) for rw in rows) - st.gap, text_width(note, fnt)) + 2 * st.pad
    box_h = lh * (len(rows) + (1 if note else 0)) + 2 * st.pad
    x0, y1 = st.gap, c.height - st.gap
    y0 = y1 - box_h
    c.panel((x0, y0, x0 + box_w, y1))
    y = y0 + st.pad
    for rw in rows:
        x = x0 + st.pad
        for i in rw:
            text, colour = items[i]
            c.dot((int(x + r), int(y + lh * 0.55)), r, colour)
            c.text(x + lh, y, text, size=st.small_px)
            x += widths[i]
        y += lh
    if note:
        c.text(x0 + st.pad, y, note, size=st.small_px, fill=MUTED_RGB)
    return (x0, y0, x0 + box_w, y1)


@lru_cache(maxsize=1024)
def _glyph(ch: str, size: int, bold: bool, outline: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """One character, rendered once: its outlined mask and its fill mask (h, w) uint8, and the offset of
    their top-left corner from the pen position on the baseline."""
    from PIL import Image, ImageDraw

    fnt = font(size, bold)
    left, top, right, bottom = fnt.getbbox(ch, stroke_width=outline, anchor="ls")
    w, h = max(int(right - left), 1), max(int(bottom - top), 1)
    masks = []
    for stroke in (outline, 0):
        img = Image.new("L", (w, h), 0)
        ImageDraw.Draw(img).text((-left, -top), ch, font=fnt, fill=255, anchor="ls", stroke_width=stroke,
                                 stroke_fill=255)
        m = np.asarray(img, dtype=np.uint8).copy()
        m.setflags(write=False)
        masks.append(m)
    return masks[0], masks[1], int(left), int(top)


@lru_cache(maxsize=64)
def _fill_lut(fill: RGB) -> np.ndarray:
    f = np.arange(256, dtype=np.uint16)[:, None]
    return ((np.asarray(fill, np.uint16) * f + np.asarray(DARK, np.uint16) * (255 - f) + 127) // 255).astype(np.uint8)


@lru_cache(maxsize=512)
def text_sprite(text: str, size: int, bold: bool, fill: RGB, outline: int
                ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``text`` with a dark outline: RGB (h, w, 3) uint8, alpha (h, w) float32 0–1, and the offset of its
    top-left corner from the text origin (Pillow's "la" anchor: left, top of the ascender).

    Built from cached glyphs (all outlines first, then all fills, as Pillow draws outlined text), so a
    text seen for the first time — an angle that changes every frame — costs a few array copies, not a
    font rendering. The sprite cache is bounded and uint8: per-frame texts must not pile up."""
    fnt = font(size, bold)
    ascent = fnt.getmetrics()[0]
    placed = []
    pen = 0.0
    for ch in text:
        so, fi, gl, gt = _glyph(ch, size, bold, outline)
        placed.append((so, fi, int(round(pen)) + gl, ascent + gt))
        pen += _advance(ch, fnt)
    if not placed:
        placed.append((np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8), 0, 0))
    x0 = min(p[2] for p in placed)
    y0 = min(p[3] for p in placed)
    x1 = max(p[2] + p[0].shape[1] for p in placed)
    y1 = max(p[3] + p[0].shape[0] for p in placed)
    stroke = np.zeros((y1 - y0, x1 - x0), np.uint8)
    body = np.zeros_like(stroke)
    for so, fi, gx, gy in placed:
        ys, xs = slice(gy - y0, gy - y0 + so.shape[0]), slice(gx - x0, gx - x0 + so.shape[1])
        np.maximum(stroke[ys, xs], so, out=stroke[ys, xs])
        np.maximum(body[ys, xs], fi, out=body[ys, xs])
    rgb = _fill_lut(fill)[body]  # the fill colour over the dark outline, by coverage
    alpha = np.maximum(stroke, body).astype(np.float32) * np.float32(1.0 / 255.0)
    rgb.setflags(write=False)
    alpha.setflags(write=False)
    return rgb, alpha, (int(x0), int(y0))


def _blend(dst: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend a sprite (alpha: (h, w) float32, 0–1) onto ``dst`` at (x, y), clipped to the frame."""
    h, w = rgb.shape[:2]
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    sx, sy = x0 - x, y0 - y
    a = np.ascontiguousarray(alpha[sy:sy + y1 - y0, sx:sx + x1 - x0])
    src = np.ascontiguousarray(rgb[sy:sy + y1 - y0, sx:sx + x1 - x0])
    roi = dst[y0:y1, x0:x1]
    roi[:] = _cv2().blendLinear(np.ascontiguousarray(roi), src, 1.0 - a, a)


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
