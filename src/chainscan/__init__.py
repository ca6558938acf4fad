"""chainscan: pose-based movement screening (knee valgus, pelvic drop) along the kinetic chain.

A screen, not a diagnosis. Importing chainscan has no side effects and does not load MediaPipe.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
