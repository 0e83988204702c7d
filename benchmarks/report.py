"""Printing figures, with the target beside each one that has a target, and a PASS/FAIL summary at the end."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field


@dataclass
class Report:
    """Figures printed as they come; targets remembered for the summary."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """A section title."""
        print(f"\n== {text}", flush=True)

    def figure(self, label: str, value: str) -> None:
        """A figure without a target."""
        print(f"  {label}: {value}", flush=True)

    def target(self, label: str, value: str, target: str, ok: bool) -> None:
        """A figure with its target and whether it met it."""
        print(f"  {label}: {value}   [target {target}: {'PASS' if ok else 'FAIL'}]", flush=True)
        self.results.append((f"{label} = {value} (target {target})", ok))

    def progress(self, text: str) -> None:
        """Progress on stderr, so the figures on stdout stay clean."""
        print(f"    .. {text}", file=sys.stderr, flush=True)

    def summary(self) -> int:
        """Print every target's outcome; the exit status is 1 when any failed."""
        if not self.results:
            return 0
        self.heading("Summary")
        for label, ok in self.results:
            print(f"  {'PASS' if ok else 'FAIL'}  {label}")
        return 0 if all(ok for _, ok in self.results) else 1


def percentile(values: list[float], pct: int) -> float:
    """The pct-th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def ms(seconds: float) -> str:
    """Seconds as milliseconds for printing."""
    return f"{seconds * 1000:.2f} ms"
