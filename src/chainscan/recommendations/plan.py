"""The foot-first plan: from a screening result (result.json as a dict) and optional answers to a short,
ordered list of exercises and habits, each with one sentence saying why.

Rules (docs: CLINICAL.md, "The foot-first link"):
- Only findings with severity "mild" or "marked" drive the plan. "unknown" (not measurable from the
  clip) is reported in ``notes`` and never prescribed for; "ok" findings are reassuring, not treated.
- Order is foot → ankle → knee → hip → trunk, then daily habits. Knee and pelvis findings start with
  foot and ankle work; a dropping pelvis or a leaning trunk adds hip-related items.
- At most :data:`MAX_EXERCISES` exercises plus :data:`MAX_HABITS` habits; a clean screen gets a
  maintenance plan of three exercises and one habit.
- Sides are the subject's own, as in the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .catalog import Exercise, load_catalog
from .explain import KNEE_CODES, PELVIS_CODES, ChainExplanation, explain_finding, explain_pain

PAIN_AREAS: tuple[str, ...] = ("knee", "hip", "low_back", "foot")
ARCH_TYPES: tuple[str, ...] = ("neutral", "high", "flat")
SEXES: tuple[str, ...] = ("female", "male")
FLAGGED = ("mild", "marked")
MAX_EXERCISES = 6
MAX_HABITS = 3
MAINTENANCE_EXERCISES = 3
MAINTENANCE_HABITS = 1

DISCLAIMER = ("chainscan is a movement screen, not a diagnosis. It estimates joint angles from a single camera, "
              "and this plan is general guidance drawn from published articles on foot-first training; it does not "
              "replace an assessment by a physiotherapist or doctor. Stop any exercise that causes pain and seek "
              "advice.")

RED_FLAGS: tuple[str, ...] = (
    "Numbness or tingling that does not go away: get assessed by a professional.",
    "Sharp pain in the foot or ankle: get assessed by a professional before carrying on.",
    "Symptoms that get worse quickly: get assessed by a professional.",
    "A clear left–right difference that is still there after 2–3 weeks of the basics: get assessed by a professional.",
)


@dataclass(frozen=True)
class Answers:
    """Optional answers that shape the plan.

    ``pain``: where it hurts, any of "knee", "hip", "low_back", "foot" (a list is accepted and stored as a
    tuple, duplicates dropped). ``arch``: the wet-foot test, "neutral", "high" or "flat". ``sex``: "female"
    or "male" (only used to say which reference values apply). Invalid values raise ConfigError.
    """

    pain: tuple[str, ...] = ()
    arch: str | None = None
    sex: str | None = None

    def __post_init__(self) -> None:
        pain = self.pain
        if isinstance(pain, str) or not isinstance(pain, (tuple, list)):
            raise ConfigError(f"Answers.pain must be a list of areas from {list(PAIN_AREAS)}, got {pain!r}.")
        bad = [p for p in pain if p not in PAIN_AREAS]
        if bad:
            raise ConfigError(f"Answers.pain: unknown area(s) {bad}; choose from {list(PAIN_AREAS)}.")
        object.__setattr__(self, "pain", tuple(dict.fromkeys(pain)))
        if self.arch is not None and self.arch not in ARCH_TYPES:
            raise ConfigError(f"Answers.arch must be one of {list(ARCH_TYPES)} (the wet-foot test) or empty, "
                              f"got {self.arch!r}.")
        if self.sex is not None and self.sex not in SEXES:
            raise ConfigError(f"Answers.sex must be one of {list(SEXES)} or empty, got {self.sex!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {"pain": list(self.pain), "arch": self.arch, "sex": self.sex}


@dataclass(frozen=True)
class PlanItem:
    """One step of the plan: a catalog entry, its place (``order``, 1-based), the flagged finding codes of
    this result it works on (``addresses``; empty when chosen for an answer or for maintenance) and
    ``why``, one sentence linking it to the finding or answer."""

    order: int
    exercise: Exercise
    addresses: tuple[str, ...]
    why: str

    @property
    def region(self) -> str:
        return self.exercise.region

    def to_dict(self) -> dict[str, Any]:
        e = self.exercise
        return {"order": self.order, "region": e.region, "exercise_id": e.id, "name": e.name, "goal": e.goal,
                "steps": list(e.steps), "cues": list(e.cues), "dose": e.dose.text, "dose_detail": e.dose.to_dict(),
                "easier": e.easier, "harder": e.harder, "addresses": list(self.addresses), "why": self.why,
                "source": e.source}


@dataclass(frozen=True)
class Plan:
    """A foot-first plan. ``to_dict()`` is the JSON contract the report renders."""

    items: tuple[PlanItem, ...]
    explanations: tuple[ChainExplanation, ...]
    red_flags: tuple[str, ...]
    disclaimer: str
    notes: tuple[str, ...]
    answers: Answers = Answers()

    def to_dict(self) -> dict[str, Any]:
        return {"items": [i.to_dict() for i in self.items], "explanations": [x.to_dict() for x in self.explanations],
                "red_flags": list(self.red_flags), "notes": list(self.notes), "disclaimer": self.disclaimer,
                "answers": self.answers.to_dict()}


# ------------------------------------------------------------------------------------------ reasons

_SEV_RANK = {"marked": 2, "mild": 1}


def _finding_phrase(f: Mapping[str, Any]) -> str:
    """A clause describing a flagged finding with its number and side, e.g. "your left knee turned inward …"."""
    code, side, v = f.get("code"), f.get("side"), f.get("value")
    num = isinstance(v, (int, float)) and not isinstance(v, bool)
    if code == "knee_valgus":
        return f"your {side} knee turned inward in the single-leg squat" + (f" (knee angle {v:+.1f}°)" if num else "")
    if code == "knees_inward":
        return "your knees moved toward each other at the bottom of the squat" + (
            f" ({v:.2f}× the ankle gap)" if num else "")
    if code == "knee_inside_foot":
        return f"your {side} knee tracked inside the foot in the squat" + (
            f" ({v:.2f} shank lengths)" if num else "")
    if code == "knee_asymmetry":
        return f"your {side} knee turned in more than the other" + (f" ({v:.1f}° difference)" if num else "")
    if code == "pelvic_drop":
        return (f"your pelvis dipped on the lifted side while you stood on the {side} leg"
                + (f" ({v:+.1f}°, an uncertain reading)" if num else " (an uncertain reading)"))
    if code == "pelvic_drop_asymmetry":
        return "your pelvis dipped more on one leg than the other" + (
            f" ({v:.1f}°, an uncertain reading)" if num else " (an uncertain reading)")
    if code == "trunk_lean":
        return f"your trunk leaned toward the standing {side} leg" + (f" ({v:+.1f}°)" if num else "")
    if code == "balance_hold_short":
        return f"your balance on the {side} leg lasted" + (f" {v:.1f} s" if num else " less than the target") + (
            " (target 20–30 s)")
    return f"the screen flagged {code}"


_ANSWER_PHRASE = {
    "arch_flat": "your wet-foot print showed a flat (collapsed) arch",
    "arch_high": "your wet-foot print showed a high arch, often a stiff foot that cushions landings badly",
    "pain_foot": "you mentioned foot pain, so this gentle drill comes early",
    "pain_knee": "you mentioned knee pain",
    "pain_hip": "you mentioned hip pain",
    "pain_low_back": "you mentioned low-back pain",
}
_ANSWER_PREFIX = {
    "maintenance": "Nothing was flagged, so this is upkeep for the foundation: ",
    "habit": "As an everyday habit, ",
    "finding": "Alongside the other foot work, ",
}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _why(ex: Exercise, reason: str, flagged: Sequence[Mapping[str, Any]], foot_pain: bool) -> tuple[str, tuple]:
    """The item's one-sentence why and the flagged codes it addresses. A finding reason names the most severe
    flagged finding the exercise works on; an answer reason names the answer."""
    mine = [f for f in flagged if f.get("code") in ex.addresses]
    addresses = tuple(dict.fromkeys(str(f["code"]) for f in mine))
    if reason == "finding" and mine:
        top = max(mine, key=lambda f: _SEV_RANK.get(str(f.get("severity")), 0))
        sentence = f"{_cap(_finding_phrase(top))}, and {ex.link}"
    elif reason in _ANSWER_PHRASE:
        sentence = f"{_cap(_ANSWER_PHRASE[reason])}, and {ex.link}"
    else:
        sentence = _ANSWER_PREFIX.get(reason, _ANSWER_PREFIX["habit"]) + ex.link
    if foot_pain and ex.kind == "exercise" and "gentle" not in ex.tags:
        sentence += "; start with the easier version while your foot is sore"
    return sentence + ".", addresses


# ----------------------------------------------------------------------------------------- selection

class _Picks:
    """Ordered wishes: the first reason given for an id wins; order = priority. An id wanted with
    ``keep=True`` is always taken (within the limits), even when higher-priority wishes fill the plan:
    the lowest-priority ordinary wish gives way to it."""

    def __init__(self, by_id: Mapping[str, Exercise]) -> None:
        self.by_id = by_id
        self.order: dict[str, str] = {}
        self.kept: set[str] = set()

    def want(self, ident: str, reason: str, *, keep: bool = False) -> None:
        if ident in self.by_id and ident not in self.order:
            self.order[ident] = reason
        if keep and ident in self.by_id:
            self.kept.add(ident)

    def take(self, n_ex: int, n_habit: int) -> list[tuple[Exercise, str, int]]:
        entries = [(prio, ident, reason) for prio, (ident, reason) in enumerate(self.order.items())]
        chosen: list[tuple[int, str, str]] = []
        for kept_first in (True, False):
            for prio, ident, reason in entries:
                if (ident in self.kept) != kept_first:
                    continue
                habit = self.by_id[ident].kind == "habit"
                room = n_habit if habit else n_ex
                if sum((self.by_id[i].kind == "habit") == habit for _, i, _ in chosen) < room:
                    chosen.append((prio, ident, reason))
        return [(self.by_id[ident], reason, prio) for prio, ident, reason in sorted(chosen)]


def _choose_flagged(p: _Picks, codes: set[str], marked: set[str], a: Answers) -> None:
    knee, pelvis, balance = codes & KNEE_CODES, codes & PELVIS_CODES, "balance_hold_short" in codes
    F = "finding"
    if "foot" in a.pain:
        p.want("toe_yoga", "pain_foot")
    p.want("short_foot", "arch_flat" if a.arch == "flat" else F)
    if a.arch == "high":
        p.want("lacrosse_ball_roll", "arch_high")
    if knee or pelvis:
        p.want("big_toe_press", F)
    if knee or a.arch == "flat":
        p.want("calf_raise_tripod", F if knee else "arch_flat")
    if pelvis:   # the explanations tell the user to have the hip assessed: these two always stay in
        p.want("single_leg_balance_dumbbell_swing", F, keep=True)
        p.want("hip_assessment", F, keep=True)
    elif "hip" in a.pain:   # the hip-pain note says a professional hip check is included
        p.want("hip_assessment", "pain_hip", keep=True)
    if balance or knee or a.arch == "high":
        p.want("barefoot_single_leg_balance", F if (balance or knee) else "arch_high")
    if knee & {"knees_inward", "knee_inside_foot"} or knee & marked:
        p.want("balance_pad_big_toe_drive", F)
    if a.arch == "flat":
        p.want("towel_curls", "arch_flat")
    if a.arch == "high":
        p.want("toe_splaying", "arch_high")
    if balance:
        p.want("toe_yoga", F)
    for fallback in ("big_toe_press", "calf_raise_tripod", "barefoot_single_leg_balance"):
        p.want(fallback, F)


def _choose_maintenance(p: _Picks, a: Answers) -> None:
    if "foot" in a.pain:
        p.want("toe_yoga", "pain_foot")
    if a.arch == "flat":
        p.want("short_foot", "arch_flat")
        p.want("calf_raise_tripod", "arch_flat")
    if a.arch == "high":
        p.want("lacrosse_ball_roll", "arch_high")
        p.want("toe_splaying", "arch_high")
    if "hip" in a.pain:
        p.want("hip_assessment", "pain_hip", keep=True)
    for ident in ("short_foot", "big_toe_press", "barefoot_single_leg_balance"):
        p.want(ident, "maintenance")


def _choose_habits(p: _Picks, a: Answers, any_flag: bool) -> None:
    if "low_back" in a.pain:
        p.want("walking", "pain_low_back")
    if a.arch == "high":
        p.want("mindful_landing", "arch_high")
    if a.arch == "flat" or "foot" in a.pain:
        p.want("wide_toe_box", "arch_flat" if a.arch == "flat" else "habit")
    p.want("barefoot_at_home", "finding" if any_flag else "habit")
    p.want("walking", "habit")


# ------------------------------------------------------------------------------------------- notes

def _title(f: Mapping[str, Any]) -> str:
    side = f.get("side")
    return f"{f.get('title') or f.get('code')}" + (f" ({side})" if side else "")


def _notes(result: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], flagged: Sequence[Mapping[str, Any]],
           a: Answers) -> list[str]:
    notes: list[str] = []
    if not flagged:
        notes.append("Nothing was flagged in this screen, so this is a short maintenance plan.")
    for f in findings:
        if f.get("severity") == "unknown":
            msg = str(f.get("message") or "").strip()
            notes.append(f"{_title(f)}: not measurable from this clip, so the plan does not prescribe for it."
                         + (f" {msg}" if msg else ""))
    failed = [g.get("gate") for g in result.get("quality", []) or [] if isinstance(g, Mapping) and not g.get("passed")]
    if failed:
        names = ", ".join(str(g).replace("_", " ") for g in failed)
        notes.append(f"Recording quality: {names} did not pass, so the findings carry lower "
                     "confidence; film again following the setup guide if you can.")
    if any(f.get("code") == "knee_valgus" for f in findings):
        base = ("The knee-angle reference comes from Herrington 2014's single-leg-squat values for women (healthy "
                "8.4 ± 5.1°, with kneecap pain 16.8 ± 5.4°)")
        if a.sex == "female":
            notes.append(base + ", so it matches your group; the angle is still a 2D estimate.")
        elif a.sex == "male":
            notes.append(base + ". Men typically show less knee valgus (landing norms are lower for men too, "
                         "Herrington & Munro 2010) and this cut-off has not been validated for men, so read the knee "
                         "result as a prompt to look closer, not a verdict.")
        else:
            notes.append(base + "; it has not been validated for men.")
    if a.arch == "flat":
        notes.append("Wet-foot test: a flat (collapsed) arch suggests the arch sinks inward under load, so arch work "
                     "(short foot, calf raise with tripod) leads the plan. The print is a clue, not a diagnosis.")
    elif a.arch == "high":
        notes.append("Wet-foot test: a high arch often goes with a stiff foot that cushions each step badly, so "
                     "rolling, toe mobility and balance lead the plan. The print is a clue, not a diagnosis.")
    elif a.arch == "neutral":
        notes.append("Wet-foot test: a neutral arch is a stable base; the plan follows the findings.")
    if "foot" in a.pain:
        notes.append("You mentioned foot pain: the plan starts with gentle drills and the easier versions. Sharp foot "
                     "or ankle pain, or numbness or tingling, is a reason to get assessed before going further.")
    if "knee" in a.pain:
        notes.append("You mentioned knee pain: keep each exercise comfortable and use the easier version if the knee "
                     "complains.")
    if "hip" in a.pain:
        notes.append("You mentioned hip pain: the foot work stays in the plan, and a professional check of the hip "
                     "muscles is included.")
    if "low_back" in a.pain:
        notes.append("You mentioned low-back pain: walking is part of the plan, and the chain section explains how "
                     "the foot connects to the low back, which this screen cannot see.")
    if any(f.get("code") in ("knee_asymmetry", "pelvic_drop_asymmetry") for f in flagged):
        notes.append("Your screen showed a left–right difference: film the same test again after 2–3 weeks of the "
                     "basics, and get assessed if the difference is still clear.")
    elif flagged:
        notes.append("Film the same test again after 2–3 weeks of the basics to see what has changed.")
    return notes


# --------------------------------------------------------------------------------------------- main

def _findings(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(result, Mapping):
        raise ConfigError(f"recommend() needs the screening result as a dict (result.json), got "
                          f"{type(result).__name__}.")
    fs = result.get("findings")
    if not isinstance(fs, list) or not all(isinstance(f, Mapping) and "code" in f and "severity" in f for f in fs):
        raise ConfigError("The screening result has no valid 'findings' list; pass ScreeningResult.to_dict() or the "
                          "contents of result.json.")
    return fs


def recommend(result: Mapping[str, Any], answers: Answers | None = None,
              catalog: Sequence[Exercise] | None = None) -> Plan:
    """Build the foot-first plan for ``result`` (a ScreeningResult.to_dict() / result.json dict).

    ``answers`` shapes it (see :class:`Answers`); ``catalog`` defaults to the packaged catalog.
    Raises ConfigError when ``result`` has no findings list or ``answers`` is invalid.
    """
    a = answers if answers is not None else Answers()
    if not isinstance(a, Answers):
        raise ConfigError(f"answers must be an Answers instance, got {type(a).__name__}.")
    findings = _findings(result)
    cat = tuple(catalog) if catalog is not None else load_catalog()
    by_id = {e.id: e for e in cat}
    flagged = [f for f in findings if f.get("severity") in FLAGGED]
    codes = {str(f["code"]) for f in flagged}
    marked = {str(f["code"]) for f in flagged if f.get("severity") == "marked"}

    picks = _Picks(by_id)
    if flagged:
        _choose_flagged(picks, codes, marked, a)
        chosen = picks.take(MAX_EXERCISES, 0)
    else:
        _choose_maintenance(picks, a)
        chosen = picks.take(MAINTENANCE_EXERCISES, 0)
    habit_picks = _Picks(by_id)
    _choose_habits(habit_picks, a, bool(flagged))
    chosen += [(e, r, prio + 1000) for e, r, prio in
               habit_picks.take(0, MAX_HABITS if flagged else MAINTENANCE_HABITS)]

    foot_pain = "foot" in a.pain

    def key(c: tuple[Exercise, str, int]) -> tuple[int, int, int]:
        ex, _, prio = c
        return (ex.region_rank, 0 if (foot_pain and "gentle" in ex.tags) else 1, prio)

    items = []
    for n, (ex, reason, _) in enumerate(sorted(chosen, key=key), start=1):
        why, addresses = _why(ex, reason, flagged, foot_pain)
        items.append(PlanItem(order=n, exercise=ex, addresses=addresses, why=why))

    flagged_codes = set(codes)
    order = {c: i for i, c in enumerate(("knee_valgus", "knees_inward", "knee_inside_foot", "knee_asymmetry",
                                         "balance_hold_short", "pelvic_drop", "pelvic_drop_asymmetry", "trunk_lean"))}
    explanations = [x for f in sorted(flagged, key=lambda f: order.get(str(f["code"]), 99))
                    if (x := explain_finding(f, flagged_codes)) is not None]
    explanations += [x for area in a.pain if (x := explain_pain(area, flagged_codes)) is not None]

    red = list(RED_FLAGS)
    if foot_pain:  # the foot-pain reminder goes first
        red.insert(0, red.pop(1))
    return Plan(items=tuple(items), explanations=tuple(explanations), red_flags=tuple(red), disclaimer=DISCLAIMER,
                notes=tuple(_notes(result, findings, flagged, a)), answers=a)
