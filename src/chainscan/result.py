"""ScreeningResult: everything one screening produced, and its versioned JSON form (docs/result-schema.md)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import __version__
from .config import ScreeningConfig
from .landmarks import Side
from .metrics import UNITS, Baseline
from .rules import DISCLAIMER, MEASUREMENT_ERROR
from .segmentation import Segmentation
from .signal import CleanedPose
from .types import Finding, PoseSequence, QualityGate, Segment, TestType

SCHEMA_VERSION = "1.0"

#: per-side metrics reported at each rep's deepest frame: (JSON key, series name pattern)
_SIDE_METRICS = (("knee_fppa_deg", "knee_fppa_{s}_deg"), ("knee_over_foot_shanklen", "knee_over_foot_{s}_shanklen"),
                 ("hip_adduction_deg", "hip_adduction_{s}_deg"), ("knee_flexion_deg", "knee_flexion_{s}_deg"))
_WHOLE_METRICS = ("knee_separation_ratio", "pelvic_obliquity_deg", "pelvic_obliquity_rel_deg", "pelvic_drop_deg",
                  "trunk_lean_deg", "trunk_lean_rel_deg", "trunk_lean_ipsi_deg", "squat_depth_leglen")


def _num(v: Any, nd: int = 2) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, nd) if np.isfinite(f) else None


@dataclass(frozen=True, eq=False)
class ScreeningResult:
    pose: PoseSequence
    clean: CleanedPose
    series: dict[str, np.ndarray]       # filtered
    raw: dict[str, np.ndarray]          # from the landmarks as the model gave them
    baseline: Baseline
    segmentation: Segmentation
    findings: tuple[Finding, ...]
    quality: tuple[QualityGate, ...]
    config: ScreeningConfig
    created: str = ""

    @property
    def test(self) -> TestType:
        return self.segmentation.test

    @property
    def stance_side(self) -> Side | None:
        return self.segmentation.stance_side

    @property
    def flagged(self) -> list[Finding]:
        return [f for f in self.findings if f.severity in ("mild", "marked")]

    def rep_rows(self) -> list[dict[str, Any]]:
        """One flat row per rep / stance period (the reps.csv rows)."""
        rows = []
        t = self.pose.timestamps
        for seg in self.segmentation.segments:
            row: dict[str, Any] = {
                "rep": seg.index + 1, "kind": seg.kind.value, "side": seg.side.value if seg.side else "",
                "complete": seg.complete, "start_s": _num(t[seg.start], 3), "deepest_s": _num(t[seg.deepest], 3),
                "end_s": _num(t[seg.end], 3), "start_frame": int(self.pose.frame_indices[seg.start]),
                "deepest_frame": int(self.pose.frame_indices[seg.deepest]),
                "end_frame": int(self.pose.frame_indices[seg.end]),
            }
            for name in sorted(self.series):
                row[name] = _num(self.series[name][seg.deepest])
            rows.append(row)
        return rows

    def _segment_dict(self, seg: Segment) -> dict[str, Any]:
        t = self.pose.timestamps
        s = self.series
        d: dict[str, Any] = {
            "index": seg.index + 1, "side": seg.side.value if seg.side else None, "complete": seg.complete,
            "start_s": _num(t[seg.start], 3), "deepest_s": _num(t[seg.deepest], 3), "end_s": _num(t[seg.end], 3),
            "start_frame": int(self.pose.frame_indices[seg.start]),
            "deepest_frame": int(self.pose.frame_indices[seg.deepest]),
            "end_frame": int(self.pose.frame_indices[seg.end]),
            "duration_s": _num(t[seg.end] - t[seg.start], 3),
            "left": {k: _num(s[p.format(s="left")][seg.deepest]) for k, p in _SIDE_METRICS},
            "right": {k: _num(s[p.format(s="right")][seg.deepest]) for k, p in _SIDE_METRICS},
        }
        d.update({k: _num(s[k][seg.deepest]) for k in _WHOLE_METRICS if k in s})
        return d

    def _finding_dict(self, f: Finding) -> dict[str, Any]:
        d = f.to_dict()
        d["evidence_row"] = f.evidence_frame   # row in frames.csv / the PoseSequence
        if f.evidence_frame is not None:        # frame number in the source video, as in reps and frames.csv
            d["evidence_frame"] = int(self.pose.frame_indices[f.evidence_frame])
        return d

    def to_dict(self) -> dict[str, Any]:
        """The result.json contract (schema_version 1.x; see docs/result-schema.md)."""
        seg = self.segmentation
        reps = [self._segment_dict(x) for x in seg.segments if x.kind is not TestType.SINGLE_LEG_STANCE]
        periods = [self._segment_dict(x) for x in seg.segments if x.kind is TestType.SINGLE_LEG_STANCE]
        meta = self.pose.meta
        return {
            "schema_version": SCHEMA_VERSION,
            "chainscan_version": __version__,
            "created": self.created,
            "disclaimer": DISCLAIMER,
            "source": {"video": meta.source, "width_px": meta.width, "height_px": meta.height,
                       "rotation_deg": meta.rotation_deg, "nominal_fps": _num(meta.fps),
                       "analysed_fps": _num(self.pose.fps), "frames_analysed": self.pose.n_frames,
                       "duration_s": _num(self.pose.timestamps[-1] - self.pose.timestamps[0], 3),
                       "pose_model": self.pose.model},
            "test": seg.test.value,
            "test_detected_automatically": seg.auto_test,
            "stance_side": seg.stance_side.value if seg.stance_side else None,
            "reps": reps,
            "stance_periods": periods,
            "balance": [x.to_dict() for x in seg.stance_stats],
            "findings": [self._finding_dict(f) for f in self.findings],
            "quality": [g.to_dict() for g in self.quality],
            "baseline": self.baseline.to_dict(),
            "signal": {"cutoff_hz": _num(self.clean.cutoff_hz), "spikes_removed": self.clean.n_spikes,
                       "implausible_points_removed": self.clean.n_implausible,
                       "swapped_frames": {k: int(v.sum()) for k, v in self.clean.swapped.items()},
                       "leg_length_px": _num(self.clean.leg_length_px)},
            "measurement_error": MEASUREMENT_ERROR,
            "units": {**UNITS, "pelvic_obliquity_rel_deg": "deg", "trunk_lean_rel_deg": "deg"},
            "config": self.config.to_dict(),
        }


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")
