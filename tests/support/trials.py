"""What the trial scripts (tests/reliability_trials_*.py) count: a row of issue #13's table per fault."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar


@dataclass
class Row:
    """One fault: how many trials injected it and how many of them failed."""

    item: int  # of issue #13
    fault: str
    trials: int = 0
    failures: int = 0
    note: str = ""  # why the row holds fewer trials than planned (a skip)
    verbose: ClassVar[bool] = "--verbose" in sys.argv  # every trial's outcome on stderr, not only failures

    def record(self, failed: bool, detail: str = "") -> None:
        self.trials += 1
        self.failures += failed
        if failed or self.verbose:
            print(f"[{self.item}] {'FAILED' if failed else 'passed'}: {self.fault}: {detail}", file=sys.stderr)

    def record_problems(self, problems: list[str]) -> None:
        """A trial that failed if anything went wrong (``problems`` says what)."""
        self.record(bool(problems), "; ".join(problems))

    def line(self) -> str:
        failures = f"{self.failures}{f' ({self.note})' if self.note else ''}"
        return f"| {self.item} | {self.fault} | {self.trials} | {failures} |"


def print_table(rows: list[Row]) -> None:
    print("| item | fault | trials | failures |")
    print("|---|---|---|---|")
    for row in rows:
        print(row.line())
