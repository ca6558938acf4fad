"""Severity from a value and its thresholds, including thresholds a user moved past each other."""

import math

import pytest

from chainscan.rules import _severity


@pytest.mark.parametrize("value,mild,marked,expected", [
    (10.0, 13.5, 16.8, "ok"), (14.0, 13.5, 16.8, "mild"), (17.0, 13.5, 16.8, "marked"),
    # the "flag from" threshold raised above "marked" (dashboard slider): below it is ok, never marked
    (16.2, 20.0, 16.8, "ok"), (17.0, 20.0, 16.8, "ok"), (21.0, 20.0, 16.8, "marked"),
    (math.nan, 13.5, 16.8, "unknown"), (20.0, 13.5, None, "mild"),
])
def test_higher_is_worse(value, mild, marked, expected):
    assert _severity(value, mild, marked, True) == expected


@pytest.mark.parametrize("value,mild,marked,expected", [
    (0.9, 0.8, 0.6, "ok"), (0.7, 0.8, 0.6, "mild"), (0.5, 0.8, 0.6, "marked"),
    (0.55, 0.5, 0.6, "ok"), (0.45, 0.5, 0.6, "marked"),
])
def test_lower_is_worse(value, mild, marked, expected):
    assert _severity(value, mild, marked, False) == expected
