"""Median with min and max of repeated figures, and ratios taken within one round of a run.

The machines this runs on are small and shared, so absolute figures drift between minutes; a
ratio of two figures measured back to back in the same round is what the bench compares.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Spread:
    """Median, min and max of repeated figures (n of them)."""

    median: float
    min: float
    max: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def text(self, digits: int = 0, unit: str = "") -> str:
        """``median (min-max)`` with the given decimals, e.g. ``5120 (4980-5230)``."""
        fmt = f"{{:.{digits}f}}"
        middle = fmt.format(self.median) + unit
        if self.n < 2:
            return middle
        return f"{middle} ({fmt.format(self.min)}-{fmt.format(self.max)})"


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values")
    return Spread(median=statistics.median(values), min=min(values), max=max(values), n=len(values))


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Spread:
    """Ratio of the i-th numerator to the i-th denominator (same round), as a spread."""
    if len(numerators) != len(denominators):
        raise ValueError("ratios need one numerator per denominator (same rounds)")
    ratios = [n / d for n, d in zip(numerators, denominators, strict=True) if d > 0]
    return spread(ratios)


def capacity_ratio(
    numerator_cpu: Sequence[float], denominator_cpu: Sequence[float]
) -> Spread | None:
    """Requests per CPU second of the numerator relative to the denominator, round by round:
    the inverse ratio of CPU time per request. Rounds where either reading is not positive (not
    measured, or a worker was reaped between the two reads of the counter) are left out."""
    pairs = [(n, d) for n, d in zip(numerator_cpu, denominator_cpu, strict=True) if n > 0 and d > 0]
    if not pairs:
        return None
    return spread([d / n for n, d in pairs])
