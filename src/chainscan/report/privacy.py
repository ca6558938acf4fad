"""Face blurring for shared videos and key frames.

The face box comes from MediaPipe's head landmarks (nose, eyes, ears, mouth): it is padded generously
(``pad`` × the head width, about 1.6 × the ear-to-ear distance, and taller than wide), clipped to the
frame, and the region is pixelated to a coarse grid and smoothed, which leaves nothing of the face
to recognise. When a frame has no head landmarks the last known box is blurred instead, so the blur
never flickers off (``FaceBlurrer``, ``face_boxes``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..landmarks import Landmark as L

#: the head landmarks the face box is built from
HEAD_LANDMARKS: tuple[L, ...] = (
    L.NOSE, L.LEFT_EYE_INNER, L.LEFT_EYE, L.LEFT_EYE_OUTER, L.RIGHT_EYE_INNER, L.RIGHT_EYE,
    L.RIGHT_EYE_OUTER, L.LEFT_EAR, L.RIGHT_EAR, L.MOUTH_LEFT, L.MOUTH_RIGHT,
)
_HEAD = [int(i) for i in HEAD_LANDMARKS]
_EYES = [int(L.LEFT_EYE), int(L.RIGHT_EYE), int(L.LEFT_EYE_INNER), int(L.RIGHT_EYE_INNER),
         int(L.LEFT_EYE_OUTER), int(L.RIGHT_EYE_OUTER)]

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels

#: the face region is reduced to about this many cells across before being smoothed back up
BLUR_CELLS = 6


def face_box(landmarks_xy: np.ndarray, width: int, height: int, pad: float = 1.6) -> Box | None:
    """Box around the face from (33, 2) pixel landmarks (NaN = missing), or None without head points.

    The head width ``b`` is the largest of the ear-to-ear distance, the spread of the head points and
    1.6 × the outer-eye distance; the box is ``pad`` × ``b`` wide, from 0.75 × its width above the eyes to
    0.6 × its width below them (forehead, hair and chin included), clipped to the frame.
    """
    xy = np.asarray(landmarks_xy, dtype=np.float64)
    head = xy[_HEAD]
    ok = np.all(np.isfinite(head), axis=1)
    if not ok.any():
        return None
    pts = head[ok]
    spread_x = float(np.ptp(pts[:, 0])) if len(pts) > 1 else 0.0
    spread_y = float(np.ptp(pts[:, 1])) if len(pts) > 1 else 0.0
    ears = float(np.hypot(*(xy[int(L.LEFT_EAR)] - xy[int(L.RIGHT_EAR)])))
    eyes = float(np.hypot(*(xy[int(L.LEFT_EYE_OUTER)] - xy[int(L.RIGHT_EYE_OUTER)])))
    shoulders = float(np.hypot(*(xy[int(L.LEFT_SHOULDER)] - xy[int(L.RIGHT_SHOULDER)])))
    cands = [v for v in (ears, spread_x, 1.3 * spread_y, 1.6 * eyes, 0.45 * shoulders) if np.isfinite(v)]
    b = max(cands + [0.02 * min(width, height), 6.0])
    w = pad * b
    eye = xy[_EYES]
    eye = eye[np.all(np.isfinite(eye), axis=1)]
    cy = float(eye[:, 1].mean()) if len(eye) else float(pts[:, 1].mean())
    cx = float((pts[:, 0].min() + pts[:, 0].max()) / 2)
    x0, x1 = int(np.floor(cx - w / 2)), int(np.ceil(cx + w / 2))
    y0, y1 = int(np.floor(cy - 0.75 * w)), int(np.ceil(cy + 0.6 * w))
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return (x0, y0, x1, y1)


def face_landmarks(clean_xy: np.ndarray, raw_coords: np.ndarray) -> np.ndarray:
    """(T, 33, 2) points for face boxes: the cleaned landmarks, with the model's raw points wherever
    cleaning removed one (e.g. a low-visibility ear): privacy errs on the side of blurring."""
    xy = np.array(clean_xy, dtype=np.float64)
    raw = np.asarray(raw_coords[..., :2], dtype=np.float64)
    missing = ~np.isfinite(xy)
    xy[missing] = raw[missing]
    return xy


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def blur_box(rgb: np.ndarray, box: Box | None, *, inplace: bool = False) -> np.ndarray:
    """Pixelate ``box`` of ``rgb`` to ~``BLUR_CELLS`` cells across and smooth it back up (irreversible)."""
    out = rgb if inplace else rgb.copy()
    if box is None:
        return out
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    from ..io.video import _cv2

    cv2 = _cv2()
    roi = out[y0:y1, x0:x1]
    bw, bh = x1 - x0, y1 - y0
    cells_x = max(2, min(BLUR_CELLS, bw // 2))
    cells_y = max(2, min(round(BLUR_CELLS * bh / bw), bh // 2))
    small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(bw, bh) // 4) | 1)
    roi[:] = cv2.GaussianBlur(big, (k, k), 0)
    return out


def blur_face(rgb: np.ndarray, landmarks_xy: np.ndarray, *, fallback: Box | None = None,
              pad: float = 1.6) -> np.ndarray:
    """A copy of ``rgb`` with the face found from the head landmarks (33, 2) pixelated and smoothed.

    Without head landmarks, ``fallback`` (e.g. the last known box) is blurred; without either the
    frame comes back unchanged. Use ``FaceBlurrer`` over a sequence of frames.
    """
    h, w = rgb.shape[:2]
    box = face_box(landmarks_xy, w, h, pad) if landmarks_xy is not None else None
    return blur_box(rgb, box if box is not None else fallback)


class FaceBlurrer:
    """Blur faces over consecutive frames, keeping the last known box where landmarks are missing."""

    def __init__(self, pad: float = 1.6) -> None:
        self.pad = pad
        self.last_box: Box | None = None

    def __call__(self, rgb: np.ndarray, landmarks_xy: np.ndarray | None) -> np.ndarray:
        h, w = rgb.shape[:2]
        box = face_box(landmarks_xy, w, h, self.pad) if landmarks_xy is not None else None
        if box is not None:
            self.last_box = box
        return blur_box(rgb, self.last_box)


def face_boxes(rows_xy: Sequence[np.ndarray] | np.ndarray, width: int, height: int,
               pad: float = 1.6) -> list[Box | None]:
    """Face box of every row of (T, 33, 2) landmarks; rows without a face get the last known box, and
    rows before the first face the first known one (so the blur is on from the first frame)."""
    boxes = [face_box(xy, width, height, pad) for xy in rows_xy]
    last: Box | None = None
    for i, b in enumerate(boxes):
        if b is None:
            boxes[i] = last
        else:
            last = b
    first = next((b for b in boxes if b is not None), None)
    for i, b in enumerate(boxes):
        if b is not None:
            break
        boxes[i] = first
    return boxes
