"""The exercise catalog: ``catalog.toml`` loaded into frozen dataclasses and validated on load.

Every entry cites one of the five source articles by title (:data:`ARTICLES`); doses are the
articles' own numbers. A problem in the file raises :class:`chainscan.errors.ConfigError` whose
message names the file, the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..config import read_toml
from ..errors import ConfigError

#: The five source articles (seeds/README.md), by title, with who published them.
ARTICLES: Mapping[str, str] = {
    "Foot Health 101: Build the “Foundation” and Your Knees, Hips, and Low Back Usually Feel the Difference":
        "Identity Chiropractic",
    "Is Your Back Pain Starting in Your Feet? 5 Exercises": "Physiogain",
    "Foot First: The Key to Eliminating Knee and Hip Pain": "Anouska Scarfe, Senior Physiotherapist",
    "Why Foot Strength Matters for Back Pain": "Gerardo Montiel, Become the Goal",
    "Strengthen Your Feet to Avoid Back Pain": "Dr. Bryan Stephens",
}

#: Plan order: foot and ankle first, then up the chain; daily habits last.
REGIONS: tuple[str, ...] = ("foot", "ankle", "knee", "hip", "trunk", "habit")

#: Finding codes produced by :mod:`chainscan.rules`.
FINDING_CODES: tuple[str, ...] = (
    "knee_valgus", "pelvic_drop", "trunk_lean", "knees_inward", "knee_inside_foot", "knee_asymmetry",
    "pelvic_drop_asymmetry", "balance_hold_short",
)

KINDS: tuple[str, ...] = ("exercise", "habit", "assessment")
TAGS: tuple[str, ...] = ("arch", "mobility", "balance", "gentle", "hip", "maintenance")

DEFAULT_PATH = Path(__file__).with_name("catalog.toml")

Range = tuple[int, int]
_RangeIn = Union[int, float, list, None]


@dataclass(frozen=True)
class Dose:
    """How much, as the source article gives it. Ranges are ``(low, high)``; a single number is
    ``(n, n)``; ``None`` = the article gives no such number. ``hold_s`` is the length of one hold and
    ``seconds`` the length of one bout (e.g. a balance), both in seconds; ``per_side`` = do each side."""

    text: str
    sets: Range | None = None
    reps: Range | None = None
    hold_s: Range | None = None
    seconds: Range | None = None
    per_side: bool = False
    frequency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The structured part (``text`` is reported separately as the plan item's ``dose``)."""
        def r(v: Range | None) -> list[int] | None:
            return list(v) if v is not None else None
        return {"sets": r(self.sets), "reps": r(self.reps), "hold_s": r(self.hold_s), "seconds": r(self.seconds),
                "per_side": self.per_side, "frequency": self.frequency}


@dataclass(frozen=True)
class Exercise:
    """One catalog entry (an exercise, a daily habit, or an assessment to seek). ``link`` completes the
    sentence "…, and <link>." that tells the user why it helps; ``addresses`` lists finding codes."""

    id: str
    name: str
    kind: str
    goal: str
    region: str
    steps: tuple[str, ...]
    cues: tuple[str, ...]
    link: str
    dose: Dose
    easier: str
    harder: str
    addresses: tuple[str, ...]
    source: str
    tags: tuple[str, ...] = ()
    also_in: tuple[str, ...] = field(default=())

    @property
    def region_rank(self) -> int:
        return REGIONS.index(self.region)


_REQUIRED = ("id", "name", "kind", "goal", "region", "steps", "cues", "link", "dose", "easier", "harder",
             "addresses", "source")
_OPTIONAL = ("tags", "also_in")
_DOSE_RANGES = ("sets", "reps", "hold_s", "seconds")
_DOSE_KEYS = ("text", *_DOSE_RANGES, "per_side", "frequency")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Where:
    """Builds error messages that name the file, the entry and the field."""

    def __init__(self, path: Path, index: int, ident: object) -> None:
        self.prefix = f"{path.name}: exercise #{index + 1}" + (f" ({ident!r})" if isinstance(ident, str) else "")

    def fail(self, fld: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.prefix}, field '{fld}': {problem}. Fix the catalog entry.")


def _text(w: _Where, raw: Mapping[str, Any], key: str) -> str:
    v = raw[key]
    if not isinstance(v, str) or not v.strip():
        raise w.fail(key, f"expected non-empty text, got {v!r}")
    return v.strip()


def _texts(w: _Where, raw: Mapping[str, Any], key: str, allow_empty: bool = False) -> tuple[str, ...]:
    v = raw.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise w.fail(key, f"expected a list of non-empty texts, got {v!r}")
    if not v and not allow_empty:
        raise w.fail(key, "expected at least one item, got an empty list")
    return tuple(x.strip() for x in v)


def _choice(w: _Where, key: str, values: tuple[str, ...], allowed: tuple[str, ...] | Mapping[str, str]) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise w.fail(key, f"unknown value(s) {bad}; expected one of {list(allowed)}")


def _range(w: _Where, key: str, v: _RangeIn) -> Range | None:
    if v is None:
        return None
    if isinstance(v, bool) or not (isinstance(v, int) or
                                   (isinstance(v, list) and len(v) == 2 and
                                    all(isinstance(x, int) and not isinstance(x, bool) for x in v))):
        raise w.fail(f"dose.{key}", f"expected a whole number or a [low, high] pair, got {v!r}")
    lo, hi = (v, v) if isinstance(v, int) else (v[0], v[1])
    if lo <= 0 or hi < lo:
        raise w.fail(f"dose.{key}", f"expected 0 < low ≤ high, got {v!r}")
    return (lo, hi)


def _dose(w: _Where, raw: object) -> Dose:
    if not isinstance(raw, dict):
        raise w.fail("dose", f"expected a table with at least 'text', got {raw!r}")
    unknown = sorted(set(raw) - set(_DOSE_KEYS))
    if unknown:
        raise w.fail("dose", f"unknown key(s) {unknown}; expected some of {list(_DOSE_KEYS)}")
    if "text" not in raw:
        raise w.fail("dose.text", "missing")
    text = _text(w, raw, "text")
    per_side = raw.get("per_side", False)
    if not isinstance(per_side, bool):
        raise w.fail("dose.per_side", f"expected true or false, got {per_side!r}")
    freq = raw.get("frequency")
    if freq is not None and (not isinstance(freq, str) or not freq.strip()):
        raise w.fail("dose.frequency", f"expected text, got {freq!r}")
    ranges = {k: _range(w, k, raw.get(k)) for k in _DOSE_RANGES}
    return Dose(text=text, per_side=per_side, frequency=freq, **ranges)


def _exercise(path: Path, index: int, raw: object) -> Exercise:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: exercise #{index + 1} is not a table. Fix the catalog entry.")
    w = _Where(path, index, raw.get("id"))
    for key in _REQUIRED:
        if key not in raw:
            raise w.fail(key, "missing")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise w.fail(unknown[0], f"unknown field; expected only {list(_REQUIRED + _OPTIONAL)}")
    ident = _text(w, raw, "id")
    if not _ID.match(ident):
        raise w.fail("id", f"expected snake_case (a-z, 0-9, _), got {ident!r}")
    kind, region, source = _text(w, raw, "kind"), _text(w, raw, "region"), _text(w, raw, "source")
    _choice(w, "kind", (kind,), KINDS)
    _choice(w, "region", (region,), REGIONS)
    _choice(w, "source", (source,), ARTICLES)
    if (region == "habit") != (kind == "habit"):
        raise w.fail("region", f"habits (kind 'habit') and only habits belong to region 'habit'; got kind {kind!r}, "
                               f"region {region!r}")
    addresses = _texts(w, raw, "addresses")
    _choice(w, "addresses", addresses, FINDING_CODES)
    tags = _texts(w, raw, "tags", allow_empty=True)
    _choice(w, "tags", tags, TAGS)
    also_in = _texts(w, raw, "also_in", allow_empty=True)
    _choice(w, "also_in", also_in, ARTICLES)
    return Exercise(id=ident, name=_text(w, raw, "name"), kind=kind, goal=_text(w, raw, "goal"), region=region,
                    steps=_texts(w, raw, "steps"), cues=_texts(w, raw, "cues"), link=_text(w, raw, "link"),
                    dose=_dose(w, raw["dose"]), easier=_text(w, raw, "easier"), harder=_text(w, raw, "harder"),
                    addresses=addresses, source=source, tags=tags, also_in=also_in)


def load_catalog(path: str | Path | None = None) -> tuple[Exercise, ...]:
    """Load and validate the exercise catalog (the packaged ``catalog.toml`` when ``path`` is None).

    Raises ConfigError naming the entry and field on any problem: a missing or unknown field, an
    unknown region, kind, tag, finding code or source title, a malformed dose, or a duplicate id.
    """
    p = Path(path) if path is not None else DEFAULT_PATH
    data = read_toml(p, "Exercise catalog", fix="fix the file")
    entries = data.get("exercise")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{p.name}: no [[exercise]] entries found; the catalog needs at least one.")
    extra = sorted(set(data) - {"exercise"})
    if extra:
        raise ConfigError(f"{p.name}: unknown top-level table(s) {extra}; only [[exercise]] entries are allowed.")
    out = tuple(_exercise(p, i, raw) for i, raw in enumerate(entries))
    seen: set[str] = set()
    for ex in out:
        if ex.id in seen:
            raise ConfigError(f"{p.name}: exercise id {ex.id!r} appears more than once; ids must be unique.")
        seen.add(ex.id)
    return out
