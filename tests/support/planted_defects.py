"""Plant known one-line defects, one at a time, and check that the tests catch each (`make defects`).

    python -m tests.support.planted_defects [NAME ...]

Each defect is a change that once passed the whole suite unnoticed. For each, the tree is
copied to a temporary directory (without .git, .venv and caches), the one line is changed
there, and the fast tiers run with `-x` against that copy; the defect counts as caught only
when a test fails (not when a file fails to import). The working tree is never touched, so
this can run while someone works in it. Exit status 1 when any defect goes unnoticed, or 2
when a planted line no longer exists (the source moved: update the entry below). Run it on a
tree whose tests pass: the first failing test is taken as the catch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("tests/unit", "tests/contracts", "tests/integration", "tests/e2e")
# The first failure is enough; MongoDB runs are left out (the same repository code runs on
# SQLite and the in-memory store without a server each time).
PYTEST_OPTIONS = (
    *("-x", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", "-k", "not mongo"),
    # It reads the planted lines in the source: it would catch every defect, telling nothing.
    "--ignore=tests/unit/test_planted_defects.py",
)
SKIPPED_IN_COPY = shutil.ignore_patterns(
    ".git", ".venv", "mutants", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Defect:
    name: str
    path: str
    line: str
    planted: str


DEFECTS = (
    Defect(
        name="inbound-get-any-merchant",
        path="domain/billing/service.py",
        # `InboundExternal.get`: its last line tells it from the other look-ups.
        line=(
            "found.merchant_id != merchant_id:\n"
            '            raise NotFound("inbound event", event_id)\n'
            "        return"
        ),
        planted='False:\n            raise NotFound("inbound event", event_id)\n        return',
    ),
    Defect(
        name="retry-after-uncapped",
        path="integrations/outbound/sender.py",
        line="return min(float(raw), MAX_RETRY_AFTER)",
        planted="return float(raw)",
    ),
    Defect(
        name="due-deliveries-never-claimed",
        path="domain/notifications/internal.py",
        line="await unit.deliveries.claim_due(now, now + self._lease, owner, limit)",
        planted="await unit.deliveries.claim_due(now, now + self._lease, owner, 0)",
    ),
    Defect(
        name="default-page-of-100",
        path="domain/shared/pagination.py",
        line="DEFAULT_LIMIT = 20",
        planted="DEFAULT_LIMIT = 100",
    ),
    Defect(
        name="redirects-followed",
        path="integrations/outbound/sender.py",
        line="allow_redirects=False,",
        planted="allow_redirects=True,",
    ),
    Defect(
        name="private-targets-allowed",
        path="integrations/outbound/resolver.py",
        line="if not self._allow_private:",
        planted="if False:",
    ),
    Defect(
        name="unhandled-type-recorded-applied",
        path="workers/tasks.py",
        line="status=InboundStatus.IGNORED, reason=normalized.reason)",
        planted="status=InboundStatus.APPLIED, reason=normalized.reason)",
    ),
    Defect(
        name="early-payment-not-postponed",
        path="workers/tasks.py",
        # The postponement of a payment whose subscription is not known yet (no `transient`).
        line="status=None, reason=str(error))\n",
        planted="status=InboundStatus.IGNORED, reason=str(error))\n",
    ),
    Defect(
        name="sqlite-synchronous-off",
        path="integrations/sqlite/store.py",
        line='conn.execute("PRAGMA synchronous = FULL")',
        planted='conn.execute("PRAGMA synchronous = OFF")',
    ),
    Defect(
        name="only-200-succeeds",
        path="domain/notifications/ports.py",
        line="self.status_code // 100 == SUCCESS_CLASS",
        planted="self.status_code == 200",
    ),
    Defect(
        name="failed-authentications-unthrottled",
        path="gateway/auth_throttle.py",
        # The middleware's refusal of a throttled address.
        line="        if wait is not None:\n            seconds = retry_after(wait)",
        planted="        if False:\n            seconds = retry_after(wait)",
    ),
    Defect(
        name="ipv6-throttled-per-address",
        path="gateway/auth_throttle.py",
        line="return str(IPv6Network((parsed, IPV6_PREFIX_LENGTH), strict=False))",
        planted="return str(parsed)",
    ),
    Defect(
        name="readiness-ignores-unwritable-store",
        path="integrations/storage/probe.py",
        line="await self._bump()",
        planted="await self._store.ping()",
    ),
    Defect(
        name="readiness-writes-every-probe",
        path="integrations/storage/probe.py",
        line="if self._answer is not None and self._monotonic() - self._answered_at < self._fresh_for:",
        planted="if False:",
    ),
    Defect(
        name="header-deadline-never-fires",
        path="subgate/deadlines.py",
        line="self.loop.call_later(self.deadlines.header_seconds, self._header_deadline_passed)",
        planted="None",
    ),
    Defect(
        name="body-deadline-never-fires",
        path="subgate/deadlines.py",
        line="self.loop.call_later(self.deadlines.body_seconds, self._body_deadline_passed)",
        planted="None",
    ),
)


def plant(defect: Defect, tree: Path) -> None:
    target = tree / defect.path
    text = target.read_text()
    if text.count(defect.line) != 1:
        raise LookupError(f"{defect.name}: {defect.line!r} is not once in {defect.path}")
    target.write_text(text.replace(defect.line, defect.planted))


def first_failure(defect: Defect) -> str | None:
    """The first test that fails with `defect` planted in a copy of the tree, if any."""
    with tempfile.TemporaryDirectory(prefix="subgate-defect-") as scratch:
        tree = Path(scratch) / "tree"
        shutil.copytree(ROOT, tree, ignore=SKIPPED_IN_COPY)
        plant(defect, tree)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *TIERS],
            cwd=tree,
            # The processes the tests start (`python -m subgate ...` in a temporary directory)
            # must run the copy too, not the tree the environment has installed.
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            check=False,
        )
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED ")]
    return failed[0].removeprefix("FAILED ") if failed else None


def main(names: list[str]) -> int:
    chosen = [d for d in DEFECTS if not names or d.name in names]
    unknown = set(names) - {d.name for d in DEFECTS}
    if unknown:
        sys.stderr.write(f"unknown defects: {', '.join(sorted(unknown))}\n")
        return 2
    missed = 0
    for defect in chosen:
        started = time.monotonic()
        try:
            caught_by = first_failure(defect)
        except LookupError as error:
            sys.stderr.write(f"{error}\n")
            return 2
        took = time.monotonic() - started
        missed += caught_by is None
        verdict = f"caught by {caught_by}" if caught_by else "NOT CAUGHT"
        sys.stdout.write(f"{defect.name}: {verdict} ({took:.0f} s)\n")
        sys.stdout.flush()
    sys.stdout.write(f"{len(chosen) - missed} of {len(chosen)} planted defects caught\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
