"""Foot-first recommendations: catalog validation, plan building, chain explanations, the SVG diagram.

Results come from chainscan.synthetic + screen_pose (no model; fast). Sides are the subject's own.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chainscan import rules
from chainscan import synthetic as syn
from chainscan.errors import ConfigError
from chainscan.landmarks import Side
from chainscan.pipeline import screen_pose
from chainscan.recommendations import (
    Answers,
    ChainExplanation,
    Exercise,
    Plan,
    PlanItem,
    chain_diagram_svg,
    load_catalog,
    recommend,
)
from chainscan.recommendations.catalog import ARTICLES, FINDING_CODES, REGIONS
from chainscan.recommendations.diagram import COLOURS

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SVG = "{http://www.w3.org/2000/svg}"


# ------------------------------------------------------------------------------------------ results

@pytest.fixture(scope="module")
def sls() -> dict:
    """Left single-leg squat: knee valgus marked, pelvic drop mild, trunk lean mild."""
    return screen_pose(syn.make_single_leg_squat(valgus_deg=18, pelvic_drop_deg=7, trunk_lean_deg=6).pose).to_dict()


@pytest.fixture(scope="module")
def clean() -> dict:
    return screen_pose(syn.make_single_leg_squat(valgus_deg=5).pose).to_dict()


@pytest.fixture(scope="module")
def stance() -> dict:
    """Right single-leg stance: pelvic drop mild, short balance; trunk lean ok."""
    return screen_pose(syn.make_single_leg_stance().pose).to_dict()


@pytest.fixture(scope="module")
def squat() -> dict:
    """Double-leg squat with the knees moving inward."""
    return screen_pose(syn.make_squat(valgus_deg=25).pose).to_dict()


@pytest.fixture(scope="module")
def unmeasurable() -> dict:
    """Right single-leg squat whose FPPA (50°) is beyond what the view can show: severity unknown."""
    return screen_pose(syn.make_single_leg_squat(side=Side.RIGHT, valgus_deg=50).pose).to_dict()


def _finding(result: dict, code: str) -> dict:
    return next(f for f in result["findings"] if f["code"] == code)


def _sev(result: dict) -> dict:
    return {(f["code"], f["side"]): f["severity"] for f in result["findings"]}


def test_fixtures_have_the_intended_findings(sls, clean, stance, squat, unmeasurable):
    assert _sev(sls) == {("knee_valgus", "left"): "marked", ("pelvic_drop", "left"): "mild",
                         ("trunk_lean", "left"): "mild"}
    assert set(_sev(clean).values()) == {"ok"}
    assert _sev(stance)[("pelvic_drop", "right")] == "mild"
    assert _sev(stance)[("balance_hold_short", "right")] == "mild"
    assert _sev(squat)[("knees_inward", None)] == "marked"
    assert _sev(unmeasurable)[("knee_valgus", "right")] == "unknown"


# ------------------------------------------------------------------------------------------ catalog

REQUIRED_IDS = {
    "short_foot", "big_toe_press", "toe_yoga", "toe_splaying", "toe_spacing_hand_glove", "towel_curls",
    "calf_raise_tripod", "single_leg_calf_raise", "barefoot_single_leg_balance", "balance_pad_big_toe_drive",
    "single_leg_balance_dumbbell_swing", "pinky_toe_lift", "lacrosse_ball_roll", "barefoot_at_home",
    "wide_toe_box", "walking", "mindful_landing",
}


def test_catalog_entries_are_complete():
    cat = load_catalog()
    assert all(isinstance(e, Exercise) for e in cat)
    for e in cat:
        for name in ("id", "name", "goal", "link", "easier", "harder", "source"):
            assert getattr(e, name).strip(), (e.id, name)
        assert e.steps and e.cues and e.addresses, e.id
        assert e.dose.text.strip(), e.id
        assert e.region in REGIONS, e.id
    assert len({e.id for e in cat}) == len(cat)


def test_catalog_covers_every_article_exercise():
    assert REQUIRED_IDS <= {e.id for e in load_catalog()}


def test_every_finding_code_is_addressed():
    addressed = {c for e in load_catalog() if e.kind == "exercise" for c in e.addresses}
    assert set(FINDING_CODES) <= addressed


def test_finding_codes_match_the_rules():
    codes = {v.code for v in vars(rules).values() if isinstance(v, rules._Check)}
    assert codes == set(FINDING_CODES)


def test_every_source_is_one_of_the_five_articles():
    assert len(ARTICLES) == 5
    cat = load_catalog()
    assert all(e.source in ARTICLES and set(e.also_in) <= set(ARTICLES) for e in cat)
    assert {e.source for e in cat} == set(ARTICLES)  # every article contributes at least one entry


@pytest.mark.skipif(not SEEDS.is_dir(), reason="source articles not present")
def test_article_titles_are_the_real_titles():
    firsts = [p.read_text(encoding="utf-8").splitlines()[0].strip() for p in sorted(SEEDS.glob("0*.txt"))]
    for title in ARTICLES:
        assert any(line.startswith(title) for line in firsts), title


def test_doses_carry_the_article_numbers():
    cat = {e.id: e for e in load_catalog()}
    sf = cat["short_foot"].dose
    assert (sf.reps, sf.hold_s, sf.per_side) == ((5, 5), (5, 10), True)
    assert (cat["big_toe_press"].dose.sets, cat["big_toe_press"].dose.reps) == ((2, 3), (8, 12))
    assert cat["calf_raise_tripod"].dose.reps == (8, 15)
    assert cat["balance_pad_big_toe_drive"].dose.seconds == (20, 30)
    assert cat["barefoot_single_leg_balance"].dose.seconds == (30, 60)


_ENTRY = """
[[exercise]]
id = "demo"
name = "Demo"
kind = "exercise"
goal = "A goal."
region = "foot"
steps = ["Step one."]
cues = ["Tripod foot."]
link = "it helps"
easier = "Easier."
harder = "Harder."
addresses = ["knee_valgus"]
source = "Foot First: The Key to Eliminating Knee and Hip Pain"
[exercise.dose]
text = "2 sets of 10."
sets = 2
reps = 10
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "catalog.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_entry_loads(tmp_path):
    (e,) = load_catalog(_write(tmp_path, _ENTRY))
    assert e.id == "demo" and e.dose.sets == (2, 2) and e.dose.reps == (10, 10)


@pytest.mark.parametrize("old,new,expect", [
    ('goal = "A goal."\n', "", ["'demo'", "'goal'", "missing"]),
    ('region = "foot"', 'region = "elbow"', ["'demo'", "'region'", "elbow"]),
    ('addresses = ["knee_valgus"]', 'addresses = ["knee_valgus", "flat_feet"]', ["'demo'", "'addresses'", "flat_feet"]),
    ('source = "Foot First: The Key to Eliminating Knee and Hip Pain"', 'source = "My Blog"',
     ["'demo'", "'source'", "My Blog"]),
    ('steps = ["Step one."]', "steps = []", ["'demo'", "'steps'"]),
    ("reps = 10", "reps = [12, 8]", ["'demo'", "dose.reps"]),
    ("reps = 10", 'colour = "red"', ["'demo'", "'dose'", "colour"]),
    ('kind = "exercise"', 'kind = "habit"', ["'demo'", "'region'"]),
    ('cues = ["Tripod foot."]', 'cues = ["Tripod foot."]\nvideo = "x"', ["'demo'", "'video'", "unknown field"]),
])
def test_broken_catalog_names_the_problem(tmp_path, old, new, expect):
    assert old in _ENTRY
    with pytest.raises(ConfigError) as e:
        load_catalog(_write(tmp_path, _ENTRY.replace(old, new)))
    for part in expect:
        assert part in str(e.value), (part, str(e.value))


def test_broken_catalog_files(tmp_path):
    with pytest.raises(ConfigError, match="more than once"):
        load_catalog(_write(tmp_path, _ENTRY + _ENTRY))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_catalog(_write(tmp_path, "[[exercise]\n"))
    with pytest.raises(ConfigError, match="no \\[\\[exercise\\]\\] entries"):
        load_catalog(_write(tmp_path, "title = 'x'\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_catalog(tmp_path / "missing.toml")


# --------------------------------------------------------------------------------------------- plan

ANSWER_SETS = [Answers(), Answers(arch="flat"), Answers(arch="high"), Answers(pain=("foot",)),
               Answers(pain=("low_back", "knee", "hip"), arch="neutral", sex="male"),
               Answers(pain=("foot", "low_back"), arch="flat", sex="female")]


def _ids(plan: Plan) -> list[str]:
    return [i.exercise.id for i in plan.items]


def _assert_ordered(plan: Plan) -> None:
    ranks = [REGIONS.index(i.region) for i in plan.items]
    assert ranks == sorted(ranks), [i.region for i in plan.items]
    assert [i.order for i in plan.items] == list(range(1, len(plan.items) + 1))


@pytest.mark.parametrize("answers", ANSWER_SETS)
def test_plan_order_never_goes_back_up_the_chain(sls, clean, stance, squat, unmeasurable, answers):
    for result in (sls, clean, stance, squat, unmeasurable):
        plan = recommend(result, answers)
        _assert_ordered(plan)
        exercises = [i for i in plan.items if i.region != "habit"]
        assert 3 <= len(exercises) <= 6
        assert sum(i.region == "habit" for i in plan.items) <= 3
        assert all(i.why.strip().endswith(".") and i.why.count(". ") == 0 for i in plan.items)  # one sentence


def test_knee_valgus_starts_with_foot_and_ankle(sls, squat):
    for result in (sls, squat):
        plan = recommend(result)
        assert plan.items[0].region == "foot"
        assert {"short_foot", "big_toe_press", "calf_raise_tripod"} <= set(_ids(plan))
        knee_items = [i for i in plan.items if {"knee_valgus", "knees_inward"} & set(i.addresses)]
        assert knee_items[0].region in ("foot", "ankle")
    first = recommend(sls).items[0]
    assert "left knee" in first.why and "+18.0°" in first.why


def test_pelvic_drop_or_trunk_lean_adds_hip_work(sls, stance, clean):
    for result in (sls, stance):
        assert {"single_leg_balance_dumbbell_swing", "hip_assessment"} <= set(_ids(recommend(result)))
    # trunk lean alone (hand-edited result): hip work still comes in
    lean_only = copy.deepcopy(clean)
    f = _finding(lean_only, "trunk_lean")
    f.update(severity="mild", value=7.5)
    plan = recommend(lean_only)
    assert any(i.region == "hip" and "trunk_lean" in i.addresses for i in plan.items)
    assert all(i.region != "hip" for i in recommend(clean).items)


ALL_ANSWERS = [Answers(pain=pain, arch=arch, sex=sex)
               for pain in [c for n in range(5) for c in itertools.combinations(("knee", "hip", "low_back", "foot"), n)]
               for arch in (None, "neutral", "high", "flat") for sex in (None, "female", "male")]


def test_knee_and_pelvis_with_foot_pain_and_high_arch_keeps_the_hip_check(sls):
    """Audit case: the pelvic-drop explanation says to have the hip assessed, so the item must be there."""
    plan = recommend(sls, Answers(pain=("foot",), arch="high"))
    assert {"hip_assessment", "single_leg_balance_dumbbell_swing"} <= set(_ids(plan))
    assert any("have the hip assessed" in e.text for e in plan.explanations)
    assert sum(i.exercise.kind != "habit" for i in plan.items) <= 6


def test_hip_items_stay_for_every_answer_combination(sls, stance, clean):
    """Invariant over all 192 answer combinations: a flagged pelvis or trunk code keeps the hip check and the
    hip-abductor exercise; hip pain keeps the hip check (its note says the check is included)."""
    lean_only = copy.deepcopy(clean)
    _finding(lean_only, "trunk_lean").update(severity="mild", value=7.5)
    for result in (sls, stance, lean_only, clean):
        pelvis = any(f["code"] in ("pelvic_drop", "pelvic_drop_asymmetry", "trunk_lean")
                     and f["severity"] in ("mild", "marked") for f in result["findings"])
        for a in ALL_ANSWERS:
            plan = recommend(result, a)
            ids = set(_ids(plan))
            if pelvis:
                assert {"hip_assessment", "single_leg_balance_dumbbell_swing"} <= ids, (a, _ids(plan))
            if "hip" in a.pain:
                assert "hip_assessment" in ids, (a, _ids(plan))
                assert any("hip muscles is included" in n for n in plan.notes)
            _assert_ordered(plan)
            assert sum(i.exercise.kind != "habit" for i in plan.items) <= 6


def test_clean_screen_gets_a_short_maintenance_plan(clean):
    plan = recommend(clean)
    assert 3 <= len(plan.items) <= 4
    assert all(not i.addresses for i in plan.items)
    assert not plan.explanations
    assert any("maintenance" in n for n in plan.notes)
    assert plan.red_flags and "not a diagnosis" in plan.disclaimer


def test_arch_answers_change_the_plan(sls, clean):
    for result in (sls, clean):
        flat, high = recommend(result, Answers(arch="flat")), recommend(result, Answers(arch="high"))
        assert _ids(flat) != _ids(high)
        assert {"short_foot", "calf_raise_tripod"} <= set(_ids(flat))
        assert "lacrosse_ball_roll" in _ids(high) and "lacrosse_ball_roll" not in _ids(flat)
        assert any("flat" in i.why for i in flat.items) and any("high arch" in i.why for i in high.items)
        assert any("Wet-foot" in n for n in flat.notes)


def test_pain_answers_add_notes_and_explanations(sls, clean):
    base = recommend(sls)
    back = recommend(sls, Answers(pain=("low_back",)))
    assert len(back.notes) > len(base.notes)
    x = next(e for e in back.explanations if e.finding == "pain_low_back")
    assert "low_back" in x.regions and "pelvis" in x.text
    assert "walking" in _ids(back)
    knee_hip = recommend(clean, Answers(pain=("knee", "hip")))
    assert {e.finding for e in knee_hip.explanations} == {"pain_knee", "pain_hip"}
    assert "hip_assessment" in _ids(knee_hip)


def test_foot_pain_goes_gentle_first_and_reminds_of_red_flags(sls):
    plan = recommend(sls, Answers(pain=("foot",)))
    assert "gentle" in plan.items[0].exercise.tags
    assert "Sharp pain in the foot" in plan.red_flags[0]
    assert any("foot pain" in n for n in plan.notes)
    assert any("easier version" in i.why for i in plan.items if "gentle" not in i.exercise.tags
               and i.exercise.kind == "exercise")


def test_sex_answer_sets_the_reference_sentence(sls, squat):
    male = " ".join(recommend(sls, Answers(sex="male")).notes)
    female = " ".join(recommend(sls, Answers(sex="female")).notes)
    assert "Herrington 2014" in male and "not been validated for men" in male and "less knee valgus" in male
    assert "Herrington 2014" in female and "matches your group" in female
    assert "Herrington 2014" not in " ".join(recommend(squat, Answers(sex="male")).notes)  # no FPPA norm applies


@pytest.mark.parametrize("kwargs,word", [
    ({"pain": ("neck",)}, "neck"), ({"pain": "knee"}, "pain"), ({"arch": "medium"}, "medium"),
    ({"sex": "other"}, "other"),
])
def test_invalid_answers_raise(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        Answers(**kwargs)


def test_answers_normalise():
    a = Answers(pain=["knee", "knee", "foot"])  # type: ignore[arg-type]
    assert a.pain == ("knee", "foot")


def test_bad_inputs_raise(sls):
    with pytest.raises(ConfigError):
        recommend({"test": "single_leg_squat"})
    with pytest.raises(ConfigError):
        recommend(sls, answers={"arch": "flat"})  # type: ignore[arg-type]


def test_explanations_use_real_values_and_sides(sls, stance, squat):
    plan = recommend(sls)
    assert all(isinstance(x, ChainExplanation) for x in plan.explanations)
    by = {x.finding: x for x in plan.explanations}
    assert set(by) == {"knee_valgus", "pelvic_drop", "trunk_lean"}
    kv = _finding(sls, "knee_valgus")
    assert f"{kv['value']:+.1f}°" in by["knee_valgus"].text and "left" in by["knee_valgus"].text
    assert by["knee_valgus"].regions[0] == "foot" and by["knee_valgus"].side == "left"
    pd = _finding(sls, "pelvic_drop")
    assert f"{pd['value']:+.1f}°" in by["pelvic_drop"].text and "uncertain" in by["pelvic_drop"].text
    for x in plan.explanations:
        assert 2 <= x.text.count(". ") + 1 <= 4
    st = {x.finding: x for x in recommend(stance).explanations}
    assert "right" in st["balance_hold_short"].text
    assert f"{_finding(stance, 'balance_hold_short')['value']:.1f} s" in st["balance_hold_short"].text
    sq = {x.finding for x in recommend(squat).explanations}
    assert "knees_inward" in sq and "knee_asymmetry" not in sq  # "ok" findings are not explained


def test_unknown_findings_do_not_drive_the_plan(unmeasurable, sls):
    plan = recommend(unmeasurable)
    assert all("knee_valgus" not in i.addresses for i in plan.items)
    assert not plan.explanations
    assert any("not measurable" in n for n in plan.notes)
    # a flagged finding turned "unknown" no longer drives anything
    edited = copy.deepcopy(sls)
    for f in edited["findings"]:
        f["severity"] = "unknown"
    p2 = recommend(edited)
    assert all(not i.addresses for i in p2.items) and not p2.explanations
    assert sum("not measurable" in n for n in p2.notes) == 3


def test_to_dict_is_the_contract(sls):
    d = recommend(sls, Answers(pain=("low_back",), arch="flat", sex="female")).to_dict()
    json.loads(json.dumps(d, allow_nan=False))
    assert list(d) == ["items", "explanations", "red_flags", "notes", "disclaimer", "answers"]
    item_keys = ["order", "region", "exercise_id", "name", "goal", "steps", "cues", "dose", "dose_detail", "easier",
                 "harder", "addresses", "why", "source"]
    assert all(list(i) == item_keys for i in d["items"])
    assert set(d["items"][0]["dose_detail"]) == {"sets", "reps", "hold_s", "seconds", "per_side", "frequency"}
    assert all(list(x) == ["finding", "side", "severity", "regions", "text"] for x in d["explanations"])
    assert d["answers"] == {"pain": ["low_back"], "arch": "flat", "sex": "female"}
    assert all(isinstance(s, str) and s for s in d["red_flags"] + d["notes"] + [d["disclaimer"]])
    assert all(i["source"] in ARTICLES for i in d["items"])
    assert isinstance(recommend(sls).items[0], PlanItem)


# ------------------------------------------------------------------------------------------ diagram

def _markers(svg: str) -> dict[tuple[str, str], ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return {(c.get("data-region"), c.get("data-side")): c for c in root.iter(f"{SVG}circle")
            if c.get("class") == "marker"}


def test_svg_parses_and_marks_the_flagged_region(sls):
    svg = chain_diagram_svg(sls)
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert root.get("role") == "img" and root.get("aria-labelledby")
    assert "SUBJECT'S LEFT" in svg and "SUBJECT'S RIGHT" in svg
    m = _markers(svg)
    assert len(m) == 10
    assert m[("knee", "left")].get("fill") == COLOURS["marked"]
    assert m[("pelvis", "centre")].get("fill") == COLOURS["mild"]
    assert m[("low_back", "centre")].get("fill") == COLOURS["mild"]
    assert m[("knee", "right")].get("data-state") == "none"  # the right leg was not tested
    # the subject's left is drawn on the viewer's right
    assert float(m[("knee", "left")].get("cx")) > float(m[("knee", "right")].get("cx"))
    assert "left knee: marked" in root.find(f"{SVG}desc").text


def test_svg_colours_by_worst_severity(clean, stance, unmeasurable, squat):
    m = _markers(chain_diagram_svg(clean))
    assert m[("knee", "left")].get("fill") == COLOURS["ok"]
    m = _markers(chain_diagram_svg(stance))
    assert m[("foot", "right")].get("fill") == COLOURS["mild"]  # short balance on the right leg
    assert m[("hip", "right")].get("fill") == COLOURS["mild"]
    m = _markers(chain_diagram_svg(unmeasurable))
    assert m[("knee", "right")].get("data-state") == "unknown"
    assert m[("knee", "right")].get("fill") == COLOURS["unknown"]
    m = _markers(chain_diagram_svg(squat))  # knees_inward (marked) outranks knee_inside_foot (mild)
    assert m[("knee", "left")].get("fill") == m[("knee", "right")].get("fill") == COLOURS["marked"]


# ------------------------------------------------------------------------------------------- own words

#: article phrases of six words or more that may appear verbatim: exercise names only
OWN_WORDS_ALLOWED = {"single leg balance with dumbbell swing"}


def _words(text: str) -> list[str]:
    """Lower-case words with punctuation, dashes and apostrophes dropped ("doesn't" -> "doesnt")."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "").replace("'", ""))


def _ngrams(words: list[str], n: int = 6) -> set[str]:
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def _all_plan_texts(results: list[dict]) -> set[str]:
    texts: set[str] = set()
    for e in load_catalog():
        texts.update([e.name, e.goal, e.link, e.easier, e.harder, e.dose.text, *e.steps, *e.cues])
    for result in results:
        for a in ALL_ANSWERS:
            plan = recommend(result, a)
            texts.update([*plan.notes, *plan.red_flags, plan.disclaimer, *(i.why for i in plan.items),
                          *(x.text for x in plan.explanations)])
    return texts


@pytest.mark.skipif(not SEEDS.is_dir(), reason="source articles (../shared/seeds) not present")
def test_catalog_plan_and_explanations_are_in_our_own_words(sls, stance, squat, clean):
    """No run of six words from the catalog, any plan's notes and reasons, or the chain explanations (for
    every answer combination) is copied from the five source articles."""
    seeds: set[str] = set()
    for p in sorted(SEEDS.glob("0*.txt")):
        seeds |= _ngrams(_words(p.read_text(encoding="utf-8")))
    assert len(seeds) > 3000                         # the articles were read
    copied = {}
    for text in _all_plan_texts([sls, stance, squat, clean]):
        for g in _ngrams(_words(text)) & seeds - OWN_WORDS_ALLOWED:
            copied.setdefault(g, text)
    assert not copied, "copied from the articles: " + "; ".join(f"{g!r} in {t!r}" for g, t in copied.items())


def test_low_back_note_points_at_the_explanation_where_it_is():
    """The chain explanation comes before the plan in the report, so the note must not say "below"."""
    clean = screen_pose(syn.make_single_leg_squat(valgus_deg=5).pose).to_dict()
    note = next(n for n in recommend(clean, Answers(pain=("low_back",))).notes if "low-back pain" in n)
    assert "below" not in note and "chain section" in note
