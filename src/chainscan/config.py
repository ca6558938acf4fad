"""Screening configuration: thresholds (as data, each with its source) and signal/segmentation settings.

A config is immutable. Overrides (TOML file, CLI options, dashboard sliders) build a new one with
``ScreeningConfig.with_overrides``; the config used is copied into every result so that each finding
can be traced to the thresholds that produced it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HEURISTIC = "heuristic"


def read_toml(path: str | Path, what: str, fix: str = "fix the syntax") -> dict[str, Any]:
    """Parse a TOML file, or raise ConfigError saying what is wrong: "<what> not found: <path>" or
    "<what> <name> is not valid TOML (<detail>); <fix>."."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {p}; check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {p} is a folder; give the path of a .toml file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {p} is not valid TOML ({e}); {fix}.") from None


@dataclass(frozen=True)
class Threshold:
    """A cut-off for one metric. ``reference`` is a citation, or "heuristic" when none exists."""

    name: str
    value: float
    unit: str
    reference: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "reference": self.reference,
                "description": self.description}


_HERRINGTON_2014 = ("Herrington 2014: single-leg squat FPPA in healthy women 8.4 ± 5.1°, "
                    "patellofemoral pain 16.8 ± 5.4°")
_MUNRO_2012 = "Munro, Herrington & Carolan 2012: FPPA smallest detectable difference 7.5–8.9°"
_PELVIS_MDC = ("heuristic, anchored on the ≈4° minimal detectable change of pelvic position in the "
               "Trendelenburg test (J Sport Rehabil 2007;16:326); no validated 2D cut-off exists")

DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("fppa_sls_mild", 13.5, "deg", _HERRINGTON_2014 + " (healthy mean + 1 SD)",
              "single-leg squat knee FPPA at the deepest frame (mean of reps) above which valgus is flagged"),
    Threshold("fppa_sls_marked", 16.8, "deg", _HERRINGTON_2014 + " (pain-group mean)",
              "single-leg squat knee FPPA rated marked"),
    Threshold("fppa_asymmetry", 8.0, "deg", _MUNRO_2012,
              "left/right FPPA difference beyond the measurement's detectable change"),
    Threshold("knee_separation_ratio_mild", 0.80, "ratio", HEURISTIC,
              "double-leg squat: knee distance ÷ ankle distance at the deepest frame below which the "
              "knees are flagged as moving in"),
    Threshold("knee_separation_ratio_marked", 0.60, "ratio", HEURISTIC,
              "double-leg squat knee separation ratio rated marked"),
    Threshold("knee_over_foot_mild", 0.15, "shank lengths", HEURISTIC,
              "knee medial to the 2nd–3rd toe line by this fraction of shank length (+ medial)"),
    Threshold("knee_over_foot_marked", 0.30, "shank lengths", HEURISTIC,
              "knee-over-foot medial offset rated marked"),
    Threshold("pelvic_drop_mild", 4.0, "deg", _PELVIS_MDC,
              "contralateral pelvic drop beyond the neutral-standing baseline"),
    Threshold("pelvic_drop_marked", 8.0, "deg", HEURISTIC, "contralateral pelvic drop rated marked"),
    Threshold("pelvic_drop_asymmetry", 4.0, "deg", _PELVIS_MDC,
              "left/right difference in contralateral pelvic drop"),
    Threshold("trunk_lean_mild", 5.0, "deg", HEURISTIC,
              "lateral trunk lean toward the stance side beyond baseline (reported with knee valgus, "
              "Dingenen et al. 2014)"),
    Threshold("trunk_lean_marked", 10.0, "deg", HEURISTIC, "ipsilateral trunk lean rated marked"),
    Threshold("balance_hold_target", 20.0, "s", "Foot Health 101 (seed article): 20–30 s per side",
              "single-leg stance hold time before the lifted foot touches down"),
)


@dataclass(frozen=True)
class SignalConfig:
    """Signal cleaning. ``cutoff_hz``: zero-lag low-pass (4th-order Butterworth: a 2nd-order filter
    run forward and backward). ``max_gap_s``: interior gaps up to this long are interpolated."""

    min_visibility: float = 0.5
    max_gap_s: float = 0.25
    cutoff_hz: float = 6.0
    fix_swaps: bool = True
    spike_tolerance: float = 0.25  # leg lengths a point may sit from its running median


@dataclass(frozen=True)
class SegmentationConfig:
    """Rep and stance detection (heuristic values, tuned on synthetic and rendered clips)."""

    min_rep_depth: float = 0.06          # hip drop ÷ leg length a rep must reach
    rep_prominence_fraction: float = 0.5  # of the depth range (OpenCap uses 0.7 of range)
    min_rep_interval_s: float = 0.5
    rep_boundary_fraction: float = 0.1   # rep starts/ends where depth is back within this share of its peak
    foot_lift_threshold: float = 0.10    # lifted ankle above the other, in leg lengths
    min_single_leg_s: float = 0.5
    min_touchdown_s: float = 0.1
    squat_knee_flexion_deg: float = 20.0  # single-leg: knee must bend this much for a "squat"


@dataclass(frozen=True)
class QualityConfig:
    """Recording-quality gates (heuristics)."""

    min_valid_fraction: float = 0.6
    min_valid_s: float = 1.0
    min_fps: float = 25.0
    min_body_height_fraction: float = 0.4
    min_body_height_px: float = 200.0
    frontal_min_ratio: float = 0.45   # shoulder/hip width ÷ torso length below which a view is oblique
    side_max_ratio: float = 0.30      # below this it is a side view
    full_body_min_fraction: float = 0.9
    # median brightness (mean luma, 0–255) of the analysed frames below which the clip is too dark: the
    # bundled model still found the rendered squat at 10 % of its brightness (luma 16) but its hips, knees and
    # ankles moved 6 px (median) from where it put them in the lit clip (2.6 px at 20 %, luma 31), and it
    # found nobody at 5 % (luma 8)
    min_brightness: float = 25.0


@dataclass(frozen=True)
class ScreeningConfig:
    thresholds: Mapping[str, Threshold] = field(
        default_factory=lambda: MappingProxyType({t.name: t for t in DEFAULT_THRESHOLDS}))
    signal: SignalConfig = field(default_factory=SignalConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)

    def threshold(self, name: str) -> float:
        return self.thresholds[name].value

    def with_overrides(self, overrides: Mapping[str, Any]) -> ScreeningConfig:
        """A new config with ``{"thresholds": {name: value}, "signal": {...}, ...}`` applied.

        Unknown names raise ConfigError (a typo must not silently do nothing).
        """
        thresholds = dict(self.thresholds)
        parts: dict[str, Any] = {}
        for section, values in overrides.items():
            if not isinstance(values, Mapping):
                raise ConfigError(f"Config section [{section}] must be a table of name = value.")
            if section == "thresholds":
                for name, value in values.items():
                    if name not in thresholds:
                        raise ConfigError(
                            f"Unknown threshold '{name}'; known: {', '.join(sorted(thresholds))}.")
                    thresholds[name] = dataclasses.replace(
                        thresholds[name], value=_number(f"thresholds.{name}", value),
                        reference=thresholds[name].reference + " (overridden by user)")
            elif section in ("signal", "segmentation", "quality"):
                current = getattr(self, section)
                known = {f.name: f for f in dataclasses.fields(current)}
                for name, value in values.items():
                    if name not in known:
                        raise ConfigError(
                            f"Unknown setting '{section}.{name}'; known: {', '.join(sorted(known))}.")
                    value = bool(value) if isinstance(getattr(current, name), bool) else \
                        _number(f"{section}.{name}", value)
                    current = dataclasses.replace(current, **{name: value})
                parts[section] = current
            else:
                raise ConfigError(
                    f"Unknown config section [{section}]; use thresholds, signal, segmentation or quality.")
        cfg = dataclasses.replace(self, thresholds=MappingProxyType(thresholds), **parts)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        s = self.signal
        if not 0 <= s.min_visibility <= 1:
            raise ConfigError(f"signal.min_visibility must be between 0 and 1, got {s.min_visibility}.")
        if s.cutoff_hz <= 0:
            raise ConfigError(f"signal.cutoff_hz must be > 0 Hz, got {s.cutoff_hz}.")
        if s.max_gap_s < 0:
            raise ConfigError(f"signal.max_gap_s must be ≥ 0 s, got {s.max_gap_s}.")

    @classmethod
    def from_toml(cls, path: str | Path) -> ScreeningConfig:
        return cls().with_overrides(read_toml(path, "Config file"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {k: t.to_dict() for k, t in self.thresholds.items()},
            "signal": dataclasses.asdict(self.signal),
            "segmentation": dataclasses.asdict(self.segmentation),
            "quality": dataclasses.asdict(self.quality),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScreeningConfig:
        """Rebuild from ``to_dict()`` output (e.g. the config stored in a result.json)."""
        base = cls()
        over: dict[str, Any] = {k: dict(v) for k, v in d.items() if k in ("signal", "segmentation", "quality")}
        cfg = base.with_overrides(over)
        th = dict(cfg.thresholds)
        for name, t in d.get("thresholds", {}).items():
            if name in th:
                th[name] = Threshold(name, float(t["value"]), t["unit"], t["reference"], t["description"])
        return dataclasses.replace(cfg, thresholds=MappingProxyType(th))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}.")
    return float(value)
