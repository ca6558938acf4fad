"""Foot-first recommendations: an exercise catalog kept as data, a plan builder that turns a screening
result (and optional answers) into a short ordered plan, the chain explained in plain words, and an SVG
diagram of where the findings show. A screen, not a diagnosis."""

from .catalog import Dose, Exercise, load_catalog
from .diagram import chain_diagram_svg
from .explain import ChainExplanation
from .plan import Answers, Plan, PlanItem, recommend

__all__ = ["Answers", "ChainExplanation", "Dose", "Exercise", "Plan", "PlanItem", "chain_diagram_svg",
           "load_catalog", "recommend"]
