"""The mutation score per module, from what `mutmut run` left in mutants/ (used by `make mutate`).

    python -m tests.support.mutation_score [GLOB ...]

Each GLOB selects mutant names as `mutmut run` does (fnmatch); none means every mutant.
Killed counts a failing test, a rejection by `mypy --strict` (CI would refuse the change
too) and a timeout (the mutant hangs where the code returns); survivors and mutants that
no test reaches count against the score. Mutants not run yet are listed apart.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

MUTANTS = Path("mutants")
KILLED = {1: "test", 3: "test", 37: "mypy", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


def module_of(mutant: str) -> str:
    """`domain.inbound.external.xǁInboundExternalǁget__mutmut_3` -> `domain.inbound.external`."""
    return mutant.split(".x_", 1)[0].split(".xǁ", 1)[0]


def results(globs: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        found |= {
            name: code
            for name, code in exit_codes.items()
            if not globs or any(fnmatch.fnmatch(name, glob) for glob in globs)
        }
    return found


def table(found: dict[str, int | None]) -> list[str]:
    counts: dict[str, Counter[str]] = {}
    for name, code in found.items():
        counts.setdefault(module_of(name), Counter())[_outcome(code)] += 1
    total: Counter[str] = Counter()
    lines = [
        "| module | mutants | killed by a test | by mypy | timeout | survived | no test | not run | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for module, count in sorted(counts.items()):
        total.update(count)
        lines.append(_row(module, count))
    lines.append(_row("**all**", total))
    return lines


def _outcome(code: int | None) -> str:
    if code is None:
        return "not run"
    return KILLED.get(code) or SURVIVED.get(code) or "suspicious"


def _row(label: str, count: Counter[str]) -> str:
    killed = count["test"] + count["mypy"] + count["timeout"]
    judged = killed + count["survived"] + count["no tests"] + count["suspicious"]
    score = f"{100 * killed / judged:.1f}%" if judged else "-"
    cells = [count[k] for k in ("test", "mypy", "timeout", "survived", "no tests", "not run")]
    return f"| {label} | {sum(count.values())} | " + " | ".join(map(str, cells)) + f" | {score} |"


def main(argv: list[str]) -> int:
    if not MUTANTS.is_dir():
        sys.stderr.write("no mutants/ here: run `make mutate` first\n")
        return 2
    found = results(argv)
    sys.stdout.write("\n".join(table(found)) + "\n")
    survivors = sorted(name for name, code in found.items() if _outcome(code) in {"survived", "no tests"})
    if survivors:
        sys.stdout.write("\nSurvivors (`mutmut show NAME` shows the change):\n")
        sys.stdout.write("".join(f"  {name}\n" for name in survivors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
