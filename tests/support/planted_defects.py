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
        path="domain/inbound/external.py",
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
        path="integrations/delivery/http/sender.py",
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
        path="integrations/delivery/http/sender.py",
        line="allow_redirects=False,",
        planted="allow_redirects=True,",
    ),
    Defect(
        name="private-targets-allowed",
        path="integrations/delivery/http/resolver.py",
        line="if not self._allow_private:",
        planted="if False:",
    ),
    Defect(
        name="unhandled-type-recorded-applied",
        path="workers/tasks.py",
        line="status=InboundStatus.IGNORED, reason=normalized.reason",
        planted="status=InboundStatus.APPLIED, reason=normalized.reason",
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
        path="integrations/stores/sqlite/store.py",
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
        name="polar-id-and-timestamp-swapped",
        path="integrations/providers/polar/signature.py",
        line='return f"{message_id}.{timestamp}.".encode() + body',
        planted='return f"{timestamp}.{message_id}.".encode() + body',
    ),
    Defect(
        name="payment-failed-plan-unescaped",
        path="integrations/delivery/email/templates/payment.failed.html",
        line="<strong>{{ plan }}</strong>",
        planted="<strong>{{ plan|safe }}</strong>",
    ),
    Defect(
        name="metrics-gate-reads-one-forwarded-line",
        path="gateway/metrics_endpoint.py",
        line='request.headers.getlist("x-forwarded-for")',
        planted='request.headers.getlist("x-forwarded-for")[:1]',
    ),
    Defect(
        name="inbound-source-reads-one-forwarded-line",
        path="gateway/inbound.py",
        line='request.headers.getlist("x-forwarded-for")',
        planted='request.headers.getlist("x-forwarded-for")[:1]',
    ),
    Defect(
        name="stripe-signature-compared-with-eq",
        path="integrations/providers/stripe/signature.py",
        line="any(hmac.compare_digest(expected, given) for given in parsed.signatures)",
        planted="any(expected == given for given in parsed.signatures)",
    ),
    Defect(
        name="polar-signature-compared-with-eq",
        path="integrations/providers/polar/signature.py",
        line="any(hmac.compare_digest(expected, given) for given in parsed.signatures)",
        planted="any(expected == given for given in parsed.signatures)",
    ),
    Defect(
        name="metrics-token-compared-with-eq",
        path="gateway/metrics_endpoint.py",
        line="hmac.compare_digest(presented.strip().encode(), token.encode())",
        planted="presented.strip().encode() == token.encode()",
    ),
    Defect(
        # API keys are looked up by digest, never compared: in clear, the store would compare the key.
        name="api-key-stored-in-clear",
        path="domain/merchants/model.py",
        line="return hashlib.sha256(api_key.encode()).hexdigest()",
        planted="return api_key",
    ),
    Defect(
        name="idempotency-path-not-compared",
        path="gateway/idempotency.py",
        line="for part in (method.encode(), path.encode(), query, body):",
        planted="for part in (method.encode(), query, body):",
    ),
    Defect(
        name="idle-pump-polls-early",
        path="workers/pumps.py",
        line="await _first_of(stopping, self._nudge, self._poll)",
        planted="await _first_of(stopping, self._nudge, min(self._poll, 1.0))",
    ),
    Defect(
        name="umask-not-set",
        path="subgate/cli.py",
        # The inherited umask (a shell's 022: the data directory 0755, the database 0644) kept.
        line="os.umask(PRIVATE_UMASK)",
        planted="os.umask(os.umask(0))",
    ),
    Defect(
        name="loose-data-dir-kept",
        path="subgate/datadir.py",
        line="if mode & _OTHERS:",
        planted="if False:",
    ),
    Defect(
        name="key-file-readable-by-others",
        path="subgate/keyfile.py",
        line="_PRIVATE_FILE: Final = 0o600",
        planted="_PRIVATE_FILE: Final = 0o644",
    ),
    Defect(
        name="secret-written-in-clear-under-a-key",
        path="integrations/stores/sealing/sealed.py",
        # Every write takes the no-key path: still readable, so nothing fails but the bytes on disk.
        line="        if current is None:\n",
        planted="        if True:\n",
    ),
    Defect(
        name="rotation-leaves-the-old-key",
        path="integrations/stores/sealing/resealing.py",
        line="for stale in (*self._keyring.older, None):",
        planted="for stale in (None,):",
    ),
    Defect(
        name="unreadable-secret-passes-the-start",
        path="integrations/stores/sealing/resealing.py",
        line="if census.unreadable <= 0:",
        planted="if True:",
    ),
    Defect(
        # A literal IP (127.0.0.1 in fullwidth digits, stored earlier) connected to without the guard:
        # aiohttp never asks a resolver about one.
        name="literal-ip-unguarded",
        path="integrations/delivery/http/sender.py",
        line="socket_factory=AddressGuard(allow_private=self._allow_private, classify=self._classify),",
        planted="socket_factory=None,",
    ),
    Defect(
        # The host judged is not the one the client connects to (Python's reading, not yarl's).
        name="host-read-by-urlsplit",
        path="integrations/delivery/http/urls.py",
        line="host = url.raw_host",
        planted='host = __import__("urllib.parse").parse.urlsplit(raw).hostname',
    ),
    Defect(
        name="numeric-hosts-accepted",
        path="integrations/delivery/http/urls.py",
        line="return label.isnumeric() or _HEX_NUMBER.fullmatch(label) is not None",
        planted="return False",
    ),
    Defect(
        name="localhost-names-unrefused",
        path="integrations/delivery/http/targets.py",
        line='return name == "localhost" or name.endswith(".localhost")',
        planted="return False",
    ),
    Defect(
        name="embedded-ipv4-ignored",
        path="integrations/delivery/http/targets.py",
        line="if inner is not address:",
        planted="if False:",
    ),
    Defect(
        name="endpoint-url-stored-as-given",
        path="integrations/delivery/http/registration.py",
        line="return target.text",
        planted="return url",
    ),
    Defect(
        # The connection looks the name up again: the checked answer is not the one connected to.
        name="connect-resolves-again",
        path="integrations/delivery/http/resolver.py",
        line="host=str(address),",
        planted="host=host,",
    ),
    Defect(
        # `http://[::1/`: urllib.parse raises on unbalanced brackets, which answered 500.
        name="endpoint-url-brackets-500",
        path="domain/notifications/external.py",
        line="except ValueError:  # unbalanced brackets around the host",
        planted="except TypeError:  # unbalanced brackets around the host",
    ),
    Defect(
        name="dev-refuses-private-targets",
        path="subgate/settings.py",
        line='_bool(env, "SUBGATE_ALLOW_PRIVATE_TARGETS", default=dev)',
        planted='_bool(env, "SUBGATE_ALLOW_PRIVATE_TARGETS", default=False)',
    ),
    Defect(
        name="unpadded-years-written",
        path="domain/shared/clock.py",
        line='return "%04d-%02d-%02dT',
        planted='return "%d-%02d-%02dT',
    ),
    Defect(
        name="short-years-not-repaired",
        path="integrations/stores/codecs.py",
        line="return msgspec.convert(self._repaired(doc), self._kind)",
        planted="return msgspec.convert(doc, self._kind)",
    ),
    Defect(
        name="claim-fails-its-batch-on-one-bad-row",
        path="integrations/stores/unreadable.py",
        line="except UnreadableDocument as error:",
        planted="except LookupError as error:",
    ),
    Defect(
        name="listing-fails-on-one-bad-row",
        path="integrations/stores/repositories.py",
        line="if (value := rendered(self.name, doc, self.read(doc))) is not None]",
        planted="if (value := self.from_doc(doc)) is not None]",
    ),
    Defect(
        name="overflowing-offset-answers-500",
        path="integrations/providers/readers.py",
        line="except (OverflowError, ValueError):",
        planted="except ValueError:",
    ),
    Defect(
        name="provider-time-range-unchecked",
        path="integrations/providers/readers.py",
        line="if not EARLIEST <= in_utc <= LATEST:",
        planted="if False:",
    ),
    Defect(
        name="unexpected-apply-error-left-to-the-lease",
        path="workers/tasks.py",
        line="except Exception as error:  # noqa: BLE001 - one event's surprise",
        planted="except ArithmeticError as error:  # noqa: BLE001 - one event's surprise",
    ),
    Defect(
        name="claim-error-ends-its-loop",
        path="workers/pumps.py",
        line="except Exception as error:  # noqa: BLE001 - the loop outlives any one claim",
        planted="except StorageError as error:  # noqa: BLE001 - the loop outlives any one claim",
    ),
    Defect(
        name="scheduler-stops-at-one-subscription",
        path="domain/subscriptions/scheduler.py",
        line="except Exception as error:  # noqa: BLE001 - one subscription never stops the others",
        planted="except LookupError as error:  # noqa: BLE001 - one subscription never stops the others",
    ),
    Defect(
        name="embedded-redis-without-password",
        path="subgate/redis/embedded.py",
        line='f"requirepass {_quote(password)}",',
        planted='"# no requirepass",',
    ),
    Defect(
        name="redis-password-file-readable",
        path="subgate/redis/password.py",
        line="PRIVATE_FILE_MODE: Final = 0o600",
        planted="PRIVATE_FILE_MODE: Final = 0o644",
    ),
    Defect(
        name="redis-password-logged",
        path="subgate/redis/shared.py",
        line='log.info("embedded_redis_started", url=redacted(url),',
        planted='log.info("embedded_redis_started", url=url,',
    ),
    Defect(
        name="passwordless-redis-left-running",
        path="subgate/redis/shared.py",
        line="if live is not None and recorded is not None and self._serves_here(recorded, None):",
        planted="if False:",
    ),
    Defect(
        name="redis-url-without-password-accepted",
        path="subgate/settings.py",
        line="problem = None if raw is None else redis_url_problem(raw)",
        planted="problem = None",
    ),
    Defect(
        name="arq-worker-unpickles-jobs",
        path="workers/runner.py",
        # arq's default deserializer is pickle.loads.
        line="job_deserializer=job_from_json,",
        planted="job_deserializer=None,",
    ),
    Defect(
        name="arq-client-pickles-jobs",
        path="integrations/redis/client.py",
        line="client.job_serializer = job_to_json",
        planted="client.job_serializer = None",
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
        path="integrations/stores/probe.py",
        line="await self._bump()",
        planted="await self._store.ping()",
    ),
    Defect(
        name="readiness-writes-every-probe",
        path="integrations/stores/probe.py",
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
    Defect(
        name="scheduler-stops-without-redis",
        path="workers/scheduling.py",
        # The stand-in never covers for the cron: timed moves wait for Redis to come back.
        line="        if self._arq_running:\n            return False",
        planted="        if True:\n            return False",
    ),
    Defect(
        name="scheduler-stand-in-beside-the-cron",
        path="workers/scheduling.py",
        line="        if self._arq_running:\n            return False",
        planted="        if False:\n            return False",
    ),
    Defect(
        name="batch-sees-only-the-store",
        path="integrations/stores/batch.py",
        # `_Layer.visible`: an event of a batch no longer sees what the earlier ones wrote.
        line="layer: _Layer | None = self",
        planted="layer: _Layer | None = None",
    ),
    Defect(
        name="batch-keeps-a-failed-event",
        path="integrations/stores/batch.py",
        line="            yield\n            self._event.keep()",
        planted=(
            "            try:\n                yield\n"
            "            finally:\n                self._event.keep()"
        ),
    ),
    Defect(
        name="batch-written-piecemeal",
        path="integrations/stores/batch.py",
        line=(
            "            async with self._store.session() as session:\n"
            "                await _write_all(session, writes)"
        ),
        planted=(
            "            for write in writes:\n"
            "                async with self._store.session() as session:\n"
            "                    await _write_all(session, [write])"
        ),
    ),
    Defect(
        name="batch-fails-with-one-bad-event",
        path="workers/batches.py",
        # `_in_batch`: the event's error ends the batch instead of leaving that event alone.
        line="cause=type(error).__name__)\n            return None",
        planted="cause=type(error).__name__)\n            raise",
    ),
    Defect(
        name="batch-links-not-read-ahead",
        path="integrations/stores/subscription_reads.py",
        line="    await batch.read_ahead(LINKS, [key for _, key in links])\n",
        planted="",
    ),
    Defect(
        name="sparse-index-made-whole",
        path="integrations/stores/sqlite/store.py",
        line='IS NOT NULL" if spec.sparse else ""',
        planted='IS NOT NULL" if False else ""',
    ),
    Defect(
        name="retired-index-kept",
        path="integrations/stores/sqlite/store.py",
        line="if table in collections and name not in declared",
        planted="if table in collections and name not in declared and False",
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
            # The processes the tests start (`python -m subgate ...`) import the planted copy too,
            # ahead of the working tree that the virtual environment's editable install points at.
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
