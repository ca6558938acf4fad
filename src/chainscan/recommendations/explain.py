"""The chain, explained: two or three plain sentences per flagged finding (and per reported pain),
tracing the kinetic chain from the foot to where the finding shows, with the finding's own numbers.

The chain is the one the source articles describe (foot → ankle → knee → hip → pelvis → low back):
an arch that collapses and a big toe that does not press let the shin and knee turn in; the hip muscles
then carry extra load, the pelvis tilts or drops, and the low back braces. Sides are the subject's own.
Angles are degrees with the signs of docs/result-schema.md (+ = knee inside the hip–ankle line, + =
pelvis lower on the lifted-leg side, + = trunk toward the standing leg).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Regions an explanation can name (the catalog's regions plus the pelvis and the low back).
CHAIN_REGIONS: tuple[str, ...] = ("foot", "ankle", "knee", "hip", "pelvis", "trunk", "low_back")

_REGIONS_OF: Mapping[str, tuple[str, ...]] = {
    "knee_valgus": ("foot", "ankle", "knee"),
    "knees_inward": ("foot", "ankle", "knee"),
    "knee_inside_foot": ("foot", "ankle", "knee"),
    "knee_asymmetry": ("foot", "ankle", "knee"),
    "pelvic_drop": ("foot", "ankle", "knee", "hip", "pelvis"),
    "pelvic_drop_asymmetry": ("foot", "ankle", "knee", "hip", "pelvis"),
    "trunk_lean": ("hip", "pelvis", "trunk", "low_back"),
    "balance_hold_short": ("foot", "ankle"),
    "pain_low_back": ("foot", "ankle", "knee", "hip", "pelvis", "low_back"),
    "pain_knee": ("foot", "ankle", "knee", "hip"),
    "pain_hip": ("foot", "ankle", "hip"),
}

KNEE_CODES = frozenset({"knee_valgus", "knees_inward", "knee_inside_foot", "knee_asymmetry"})
PELVIS_CODES = frozenset({"pelvic_drop", "pelvic_drop_asymmetry", "trunk_lean"})


@dataclass(frozen=True)
class ChainExplanation:
    """Why a finding (or a reported pain) connects to the foot. ``finding`` is a finding code, or
    ``pain_<area>`` for a pain the user reported (then ``side`` is None and ``severity`` "reported");
    ``regions`` lists the links of the chain the text walks through, foot first."""

    finding: str
    side: str | None
    severity: str
    regions: tuple[str, ...]
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"finding": self.finding, "side": self.side, "severity": self.severity,
                "regions": list(self.regions), "text": self.text}


def _num(f: Mapping[str, Any], key: str) -> float | None:
    v = f.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    return "an unrecorded value" if v is None else f"{format(v, spec)}{unit}"


_FOOT_OPENER = ("When the arch and the big toe cannot hold the foot steady, the foot rolls in and the shin and knee "
                "turn in with it.")


def _knee_valgus(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    side = f.get("side") or "tested"
    return (f"{_FOOT_OPENER} On your {side} leg the knee angle (FPPA) averaged {_fmt(v, '+.1f', '°')} at the "
            f"deepest point of the single-leg squats, past the {_fmt(th, '.1f', '°')} reference ({f['severity']}). "
            f"This is a 2D estimate from one camera ({f.get('confidence', 'unknown')} confidence, typical error "
            "about ±3°), and weak hip muscles such as the gluteus medius can also let the knee collapse, so the "
            "foot comes first and the hip is worth checking too.")


def _knees_inward(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    return (f"{_FOOT_OPENER} At the bottom of your squat the knees were {_fmt(v, '.2f', ' times')} as far apart as "
            f"the ankles (flagged below {_fmt(th, '.2f')}), so they moved toward each other. There is no published "
            "knee-angle norm for the two-leg squat, so it is judged by how the knees track over the feet "
            f"({f.get('confidence', 'unknown')} confidence).")


def _knee_inside_foot(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    side = f.get("side") or "tested"
    return ("If the arch collapses, the knee tends to drift inside the foot instead of tracking over it. "
            f"Your {side} knee sat {_fmt(v, '.2f')} shank lengths inside the line of the toes at the bottom of the "
            f"squat (flagged above {_fmt(th, '.2f')}, {f.get('confidence', 'unknown')} confidence); the aim is the "
            "knee over the 2nd–3rd toe.")


def _knee_asymmetry(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    side = f.get("side") or "one"
    return (f"Each leg's chain starts at its own foot, so the foot work is done on both sides with extra care on "
            f"the {side}. Your {side} knee turned in {_fmt(v, '.1f', '°')} more than the other (knee angle, "
            f"FPPA), beyond the {_fmt(th, '.0f', '°')} the measurement can reliably detect. If the difference is "
            "still there when you re-test after 2–3 weeks of the basics, have it assessed.")


_PELVIS_DOUBT = ("The pelvis reading is uncertain (low confidence: the pose model misses pelvic drops of a few "
                 "degrees), so check it on the video and by the trunk lean")


def _pelvic_drop(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    side = f.get("side") or "standing"
    return ("A foot that gives way underneath leaves the hip muscles to do the steadying on their own, and "
            "if the side hip muscles cannot hold the pelvis level it dips on the lifted-leg side. "
            f"Standing on your {side} leg, the pelvis sat {_fmt(v, '+.1f', '°')} lower on the lifted side than in "
            f"neutral standing (flagged from {_fmt(th, '.0f', '°')}, a heuristic cut-off). "
            f"{_PELVIS_DOUBT}, and have the hip assessed.")


def _pelvic_drop_asymmetry(f: Mapping[str, Any], flagged: set[str]) -> str:
    v = _num(f, "value")
    side = f.get("side") or "one"
    return ("The pelvis dropped more when standing on one leg than on the other, a sign that one side's chain from "
            f"foot to hip may give less support. The difference was {_fmt(v, '.1f', '°')}, with the larger drop "
            f"standing on the {side} leg. {_PELVIS_DOUBT}; if it is still there after 2–3 weeks of the basics, "
            "have it assessed.")


def _trunk_lean(f: Mapping[str, Any], flagged: set[str]) -> str:
    v, th = _num(f, "value"), _num(f, "threshold")
    side = f.get("side") or "standing"
    text = ("Leaning the upper body over the standing leg is a common way to take load off the side hip muscles, "
            "and further up the chain the low back then braces for balance that should come from below. "
            f"Your trunk leaned {_fmt(v, '+.1f', '°')} toward the standing {side} leg, beyond the "
            f"{_fmt(th, '.0f', '°')} heuristic mark ({f.get('confidence', 'unknown')} confidence).")
    if "knee_valgus" in flagged:
        text += (" Knee collapse and trunk lean together relate to higher knee load (Dingenen et al. 2014), which is "
                 "why both are reported.")
    return text


def _balance_hold_short(f: Mapping[str, Any], flagged: set[str]) -> str:
    v = _num(f, "value")
    side = f.get("side") or "tested"
    return ("Balancing on one leg relies on the small muscles of the foot and ankle making constant small "
            f"corrections. On your {side} leg you balanced for {_fmt(v, '.1f', ' s')} before the other foot "
            "touched down; a useful first target is 20–30 s, building to 30–60 s.")


_TEMPLATES = {
    "knee_valgus": _knee_valgus, "knees_inward": _knees_inward, "knee_inside_foot": _knee_inside_foot,
    "knee_asymmetry": _knee_asymmetry, "pelvic_drop": _pelvic_drop, "pelvic_drop_asymmetry": _pelvic_drop_asymmetry,
    "trunk_lean": _trunk_lean, "balance_hold_short": _balance_hold_short,
}


def explain_finding(f: Mapping[str, Any], flagged: set[str]) -> ChainExplanation | None:
    """The chain explanation of one flagged finding (a result.json finding dict); None for an unknown code.
    ``flagged`` is the set of flagged codes in the same result (explanations mention related findings)."""
    fn = _TEMPLATES.get(str(f.get("code")))
    if fn is None:
        return None
    code = str(f["code"])
    return ChainExplanation(finding=code, side=f.get("side"), severity=str(f.get("severity")),
                            regions=_REGIONS_OF[code], text=fn(f, flagged))


def _found(flagged: set[str], codes: frozenset[str]) -> list[str]:
    names = {"knee_valgus": "the knee turning in", "knees_inward": "the knees moving toward each other",
             "knee_inside_foot": "the knee drifting inside the foot", "knee_asymmetry": "a left–right knee difference",
             "pelvic_drop": "the pelvis dropping (an uncertain reading)",
             "pelvic_drop_asymmetry": "a left–right pelvis difference (an uncertain reading)",
             "trunk_lean": "the trunk leaning over the standing leg"}
    return [names[c] for c in sorted(flagged & codes)]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def explain_pain(area: str, flagged: set[str]) -> ChainExplanation | None:
    """The chain explanation for a pain the user reported (knee, hip, low back); None for foot pain, which
    is handled by gentler choices, a note and the red flags rather than a chain story."""
    if area == "low_back":
        seen = _found(flagged, PELVIS_CODES) or _found(flagged, KNEE_CODES)
        s2 = (f"Your screen showed {_join(seen)} along that chain." if seen else
              "This screen flagged nothing along that chain, and it cannot see the low back itself.")
        text = ("The articles trace a knock-on effect: as the arch sinks, the shin and knee rotate inward, the hip "
                "follows, the pelvis tips forward and the small low-back muscles end up bracing all day. "
                f"{s2} Walking and time barefoot keep the feet working every day; back pain that persists deserves a "
                "professional assessment.")
    elif area == "knee":
        seen = _found(flagged, KNEE_CODES)
        s2 = (f"Your screen showed {_join(seen)}." if seen else "This screen did not flag the knee.")
        text = ("When the foot rolls in too far, extra stress reaches the kneecap joint and the patellar tendon, and "
                f"weak hip muscles such as the gluteus medius can also let the knee collapse. {s2} With knee pain, "
                "both the foot and the hip should be assessed.")
    elif area == "hip":
        seen = _found(flagged, PELVIS_CODES)
        s2 = (f"Your screen showed {_join(seen)}." if seen else "This screen did not flag the pelvis or trunk.")
        text = ("A foot that gives way underneath hands the steadying job to the hip, above all the glutes, and "
                f"that overload can feed gluteal tendon trouble and hip impingement. {s2} Even when the hip is part "
                "of the problem, the foot still has to do its share, so foot work stays in the plan.")
    else:
        return None
    code = f"pain_{area}"
    return ChainExplanation(finding=code, side=None, severity="reported", regions=_REGIONS_OF[code], text=text)
