"""Plant known one-line defects, one at a time, and check that the tests catch each (`make defects`).

    python -m tests.support.planted_defects [NAME ...]

Each defect is a change that once passed the whole suite unnoticed. For each, the tree is
copied to a temporary directory (without .git, .venv and caches), the one line is changed
there, and the tests run with `-x` against that copy in up to three steps, each only when the
one before found no failing test: the tests the entry names in `caught_in` (those known to
catch it), the unit tests of the defect's own package (`tests/unit` mirrors the packages), then
the fast tiers whole. The names only save time: a defect they miss still meets every tier. The
defect counts as caught only when a test fails (not when a file fails to import), and the line
printed for it names the test and the step. The working tree is never touched, so this can run
while someone works in it. Exit status 1 when any defect goes unnoticed, or 2 when a planted
line no longer exists (the source moved: update the entry below). Run it on a tree whose tests
pass: the first failing test is taken as the catch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    # Test files (or node ids) that catch it, run first: a catch in seconds instead of the tiers.
    caught_in: tuple[str, ...] = ()


# Where the catch came from: the entry's `caught_in`, its package's unit tests, the tiers whole.
Step = Literal["named", "nearby", "tiers"]


@dataclass(frozen=True, slots=True)
class Catch:
    test: str
    step: Step


DEFECTS = (
    Defect(
        name="inbound-get-any-merchant",
        path="domain/inbound/external.py",
        line='return owned(found, merchant_id, "inbound event", event_id)',
        planted='return found or owned(found, merchant_id, "inbound event", event_id)',
        caught_in=("tests/unit/domain/inbound/test_inbound_records.py",),
    ),
    Defect(
        name="retry-after-uncapped",
        path="integrations/delivery/http/sender.py",
        line="return min(float(raw), MAX_RETRY_AFTER)",
        planted="return float(raw)",
        caught_in=(
            "tests/integration/test_outbound_failures.py::test_retry_after_is_read_on_429_and_503_within_the_cap",
        ),
    ),
    Defect(
        name="due-deliveries-never-claimed",
        path="domain/notifications/internal.py",
        line="await unit.deliveries.claim_due(now, now + self._lease, owner, limit)",
        planted="await unit.deliveries.claim_due(now, now + self._lease, owner, 0)",
        caught_in=("tests/unit/domain/notifications/test_delivery_claims.py",),
    ),
    Defect(
        name="default-page-of-100",
        path="domain/shared/pagination.py",
        line="DEFAULT_LIMIT = 20",
        planted="DEFAULT_LIMIT = 100",
        caught_in=("tests/unit/domain/shared/test_pagination.py",),
    ),
    Defect(
        name="redirects-followed",
        path="integrations/delivery/http/sender.py",
        line="allow_redirects=False,",
        planted="allow_redirects=True,",
        caught_in=("tests/integration/test_outbound_failures.py::test_a_redirect_is_not_followed",),
    ),
    Defect(
        name="private-targets-allowed",
        path="integrations/delivery/http/resolver.py",
        line="if not self._allow_private:",
        planted="if False:",
        caught_in=("tests/unit/integrations/delivery/test_outbound_registration.py",),
    ),
    Defect(
        name="unhandled-type-recorded-applied",
        path="workers/tasks.py",
        line="status=InboundStatus.IGNORED, reason=normalized.reason",
        planted="status=InboundStatus.APPLIED, reason=normalized.reason",
        caught_in=("tests/unit/workers/test_inbound_outcomes.py",),
    ),
    Defect(
        name="early-payment-not-postponed",
        path="workers/tasks.py",
        # The postponement of a payment whose subscription is not known yet (no `transient`).
        line="status=None, reason=str(error))\n",
        planted="status=InboundStatus.IGNORED, reason=str(error))\n",
        caught_in=("tests/unit/workers/test_inbound_fetching.py",),
    ),
    Defect(
        name="sqlite-synchronous-off",
        path="integrations/stores/sqlite/store.py",
        line='conn.execute("PRAGMA synchronous = FULL")',
        planted='conn.execute("PRAGMA synchronous = OFF")',
        caught_in=("tests/contracts/test_sqlite_durability.py",),
    ),
    Defect(
        name="only-200-succeeds",
        path="domain/notifications/ports.py",
        line="self.status_code // 100 == SUCCESS_CLASS",
        planted="self.status_code == 200",
        caught_in=("tests/unit/domain/notifications/test_outbound_management.py",),
    ),
    Defect(
        name="polar-id-and-timestamp-swapped",
        path="integrations/providers/polar/signature.py",
        line='return f"{message_id}.{timestamp}.".encode() + body',
        planted='return f"{timestamp}.{message_id}.".encode() + body',
        caught_in=("tests/unit/integrations/providers/test_polar_signature.py",),
    ),
    Defect(
        name="payment-failed-plan-unescaped",
        path="integrations/delivery/email/templates/payment.failed.html",
        line="<strong>{{ plan }}</strong>",
        planted="<strong>{{ plan|safe }}</strong>",
        caught_in=("tests/unit/integrations/delivery/test_email_templates.py",),
    ),
    Defect(
        name="metrics-gate-reads-one-forwarded-line",
        path="gateway/metrics_endpoint.py",
        line='request.headers.getlist("x-forwarded-for")',
        planted='request.headers.getlist("x-forwarded-for")[:1]',
        caught_in=("tests/unit/gateway/test_gateway_forwarded_for.py",),
    ),
    Defect(
        name="inbound-source-reads-one-forwarded-line",
        path="gateway/inbound.py",
        line='request.headers.getlist("x-forwarded-for")',
        planted='request.headers.getlist("x-forwarded-for")[:1]',
        caught_in=("tests/unit/gateway/test_gateway_forwarded_for.py",),
    ),
    Defect(
        name="stripe-signature-compared-with-eq",
        path="integrations/providers/stripe/signature.py",
        line="any(hmac.compare_digest(expected, given) for given in parsed.signatures)",
        planted="any(expected == given for given in parsed.signatures)",
        caught_in=("tests/unit/test_secret_comparisons.py",),
    ),
    Defect(
        name="polar-signature-compared-with-eq",
        path="integrations/providers/polar/signature.py",
        line="any(hmac.compare_digest(expected, given) for given in parsed.signatures)",
        planted="any(expected == given for given in parsed.signatures)",
        caught_in=("tests/unit/test_secret_comparisons.py",),
    ),
    Defect(
        name="metrics-token-compared-with-eq",
        path="gateway/metrics_endpoint.py",
        line="hmac.compare_digest(presented.strip().encode(), token.encode())",
        planted="presented.strip().encode() == token.encode()",
        caught_in=("tests/unit/test_secret_comparisons.py",),
    ),
    Defect(
        # API keys are looked up by digest, never compared: in clear, the store would compare the key.
        name="api-key-stored-in-clear",
        path="domain/merchants/model.py",
        line="return hashlib.sha256(api_key.encode()).hexdigest()",
        planted="return api_key",
        caught_in=("tests/unit/test_secret_comparisons.py",),
    ),
    Defect(
        name="idempotency-path-not-compared",
        path="gateway/idempotency.py",
        line="for part in (method.encode(), path.encode(), query, body):",
        planted="for part in (method.encode(), query, body):",
        caught_in=("tests/unit/gateway/test_gateway_idempotency.py",),
    ),
    Defect(
        name="idle-pump-polls-early",
        path="workers/pumps.py",
        line="await _first_of(stopping, self._nudge, self._poll)",
        planted="await _first_of(stopping, self._nudge, min(self._poll, 1.0))",
        caught_in=("tests/unit/workers/test_pumps.py",),
    ),
    Defect(
        name="umask-not-set",
        path="subgate/cli.py",
        # The inherited umask (a shell's 022: the data directory 0755, the database 0644) kept.
        line="os.umask(PRIVATE_UMASK)",
        planted="os.umask(os.umask(0))",
        caught_in=("tests/unit/subgate/test_backup_commands.py",),
    ),
    Defect(
        name="loose-data-dir-kept",
        path="subgate/datadir.py",
        line="if mode & _OTHERS:",
        planted="if False:",
        caught_in=("tests/unit/subgate/test_data_dir_privacy.py",),
    ),
    Defect(
        name="key-file-readable-by-others",
        path="subgate/keyfile.py",
        line="_PRIVATE_FILE: Final = 0o600",
        planted="_PRIVATE_FILE: Final = 0o644",
        caught_in=("tests/unit/subgate/test_secret_key_setting.py",),
    ),
    Defect(
        name="secret-written-in-clear-under-a-key",
        path="integrations/stores/sealing/sealed.py",
        # Every write takes the no-key path: still readable, so nothing fails but the bytes on disk.
        line="        if current is None:\n",
        planted="        if True:\n",
        caught_in=("tests/unit/subgate/test_backup_commands.py",),
    ),
    Defect(
        name="rotation-leaves-the-old-key",
        path="integrations/stores/sealing/resealing.py",
        line="for stale in (*self._keyring.older, None):",
        planted="for stale in (None,):",
        caught_in=("tests/unit/subgate/test_secrets_commands.py",),
    ),
    Defect(
        name="unreadable-secret-passes-the-start",
        path="integrations/stores/sealing/resealing.py",
        line="if census.unreadable <= 0:",
        planted="if True:",
        caught_in=("tests/unit/subgate/test_secrets_commands.py",),
    ),
    Defect(
        # A literal IP (127.0.0.1 in fullwidth digits, stored earlier) connected to without the guard:
        # aiohttp never asks a resolver about one.
        name="literal-ip-unguarded",
        path="integrations/delivery/http/sender.py",
        line="socket_factory=AddressGuard(allow_private=self._allow_private, classify=self._classify),",
        planted="socket_factory=None,",
        caught_in=(
            "tests/integration/test_outbound_failures.py::test_a_private_target_is_refused_at_delivery_naming_the_setting",
        ),
    ),
    Defect(
        # The host judged is not the one the client connects to (Python's reading, not yarl's).
        name="host-read-by-urlsplit",
        path="integrations/delivery/http/urls.py",
        line="host = url.raw_host",
        planted='host = __import__("urllib.parse").parse.urlsplit(raw).hostname',
        caught_in=("tests/unit/integrations/delivery/test_outbound_registration.py",),
    ),
    Defect(
        name="numeric-hosts-accepted",
        path="integrations/delivery/http/urls.py",
        line="return label.isnumeric() or _HEX_NUMBER.fullmatch(label) is not None",
        planted="return False",
        caught_in=("tests/unit/integrations/delivery/test_outbound_registration.py",),
    ),
    Defect(
        name="localhost-names-unrefused",
        path="integrations/delivery/http/targets.py",
        line='return name == "localhost" or name.endswith(".localhost")',
        planted="return False",
        caught_in=("tests/unit/integrations/delivery/test_outbound_registration.py",),
    ),
    Defect(
        name="embedded-ipv4-ignored",
        path="integrations/delivery/http/targets.py",
        line="if inner is not address:",
        planted="if False:",
        caught_in=("tests/unit/integrations/delivery/test_outbound_resolver.py",),
    ),
    Defect(
        name="endpoint-url-stored-as-given",
        path="integrations/delivery/http/registration.py",
        line="return target.text",
        planted="return url",
        caught_in=("tests/unit/integrations/delivery/test_outbound_registration.py",),
    ),
    Defect(
        # The connection looks the name up again: the checked answer is not the one connected to.
        name="connect-resolves-again",
        path="integrations/delivery/http/resolver.py",
        line="host=str(address),",
        planted="host=host,",
        caught_in=("tests/unit/integrations/delivery/test_outbound_resolver.py",),
    ),
    Defect(
        # `http://[::1/`: urllib.parse raises on unbalanced brackets, which answered 500.
        name="endpoint-url-brackets-500",
        path="domain/notifications/external.py",
        line="except ValueError:  # unbalanced brackets around the host",
        planted="except TypeError:  # unbalanced brackets around the host",
        caught_in=("tests/unit/gateway/test_gateway_endpoint_host_spellings.py",),
    ),
    Defect(
        name="dev-refuses-private-targets",
        path="subgate/settings.py",
        line='_bool(env, "SUBGATE_ALLOW_PRIVATE_TARGETS", default=dev)',
        planted='_bool(env, "SUBGATE_ALLOW_PRIVATE_TARGETS", default=False)',
        caught_in=("tests/unit/subgate/test_private_targets_setting.py",),
    ),
    Defect(
        name="unpadded-years-written",
        path="domain/shared/clock.py",
        line='return "%04d-%02d-%02dT',
        planted='return "%d-%02d-%02dT',
        caught_in=("tests/unit/integrations/stores/test_reading_back.py",),
    ),
    Defect(
        name="short-years-not-repaired",
        path="integrations/stores/codecs.py",
        line="return msgspec.convert(self._repaired(doc), self._kind)",
        planted="return msgspec.convert(doc, self._kind)",
        caught_in=("tests/unit/integrations/stores/test_reading_back.py",),
    ),
    Defect(
        name="claim-fails-its-batch-on-one-bad-row",
        path="integrations/stores/unreadable.py",
        line="except UnreadableDocument as error:",
        planted="except LookupError as error:",
        caught_in=("tests/unit/workers/test_work_that_fails.py",),
    ),
    Defect(
        name="listing-fails-on-one-bad-row",
        path="integrations/stores/collection.py",
        line="if (value := rendered(self.name, doc, self.read(doc))) is not None]",
        planted="if (value := self.from_doc(doc)) is not None]",
        caught_in=("tests/contracts/test_unreadable_documents.py",),
    ),
    Defect(
        name="overflowing-offset-answers-500",
        path="integrations/providers/readers.py",
        line="except (OverflowError, ValueError):",
        planted="except ValueError:",
        caught_in=("tests/unit/integrations/providers/test_paddle.py",),
    ),
    Defect(
        name="provider-time-range-unchecked",
        path="integrations/providers/readers.py",
        line="if not EARLIEST <= in_utc <= LATEST:",
        planted="if False:",
        caught_in=("tests/unit/integrations/providers/test_paddle.py",),
    ),
    Defect(
        name="unexpected-apply-error-left-to-the-lease",
        path="workers/tasks.py",
        line="except Exception as error:  # noqa: BLE001 - one event's surprise",
        planted="except ArithmeticError as error:  # noqa: BLE001 - one event's surprise",
        caught_in=("tests/unit/workers/test_work_that_fails.py",),
    ),
    Defect(
        name="claim-error-ends-its-loop",
        path="workers/pumps.py",
        line="except Exception as error:  # noqa: BLE001 - the loop outlives any one claim",
        planted="except StorageError as error:  # noqa: BLE001 - the loop outlives any one claim",
        caught_in=("tests/unit/workers/test_work_that_fails.py",),
    ),
    Defect(
        name="scheduler-stops-at-one-subscription",
        path="domain/subscriptions/scheduler.py",
        line="except Exception as error:  # noqa: BLE001 - one subscription never stops the others",
        planted="except LookupError as error:  # noqa: BLE001 - one subscription never stops the others",
        caught_in=("tests/unit/workers/test_work_that_fails.py",),
    ),
    Defect(
        name="embedded-redis-without-password",
        path="subgate/redis/embedded.py",
        line='f"requirepass {_quote(password)}",',
        planted='"# no requirepass",',
        caught_in=("tests/unit/subgate/test_embedded_redis_config.py",),
    ),
    Defect(
        name="redis-password-file-readable",
        path="subgate/redis/password.py",
        line="PRIVATE_FILE_MODE: Final = 0o600",
        planted="PRIVATE_FILE_MODE: Final = 0o644",
        caught_in=(
            "tests/integration/test_embedded_redis.py::test_the_password_is_generated_once_and_private",
        ),
    ),
    Defect(
        name="redis-password-logged",
        path="subgate/redis/shared.py",
        line='log.info("embedded_redis_started", url=redacted(url),',
        planted='log.info("embedded_redis_started", url=url,',
        caught_in=("tests/integration/test_shared_redis.py::test_concurrent_starters_share_one_server",),
    ),
    Defect(
        name="passwordless-redis-left-running",
        path="subgate/redis/shared.py",
        line="if live is not None and recorded is not None and self._serves_here(recorded, None):",
        planted="if False:",
        caught_in=(
            "tests/integration/test_shared_redis.py::test_a_server_an_earlier_release_left_without_a_password_gets_one",
        ),
    ),
    Defect(
        name="redis-url-without-password-accepted",
        path="subgate/settings.py",
        line="problem = None if raw is None else redis_url_problem(raw)",
        planted="problem = None",
        caught_in=("tests/unit/subgate/test_redis_url_setting.py",),
    ),
    Defect(
        name="arq-worker-unpickles-jobs",
        path="workers/runner.py",
        # arq's default deserializer is pickle.loads.
        line="job_deserializer=job_from_json,",
        planted="job_deserializer=None,",
        caught_in=(
            "tests/integration/test_arq_jobs.py::test_a_pickled_job_is_dropped_unrun_and_the_worker_goes_on",
        ),
    ),
    Defect(
        name="arq-client-pickles-jobs",
        path="integrations/redis/client.py",
        line="client.job_serializer = job_to_json",
        planted="client.job_serializer = None",
        caught_in=("tests/unit/workers/test_scheduler_job.py",),
    ),
    Defect(
        name="failed-authentications-unthrottled",
        path="gateway/auth_throttle.py",
        # The middleware's refusal of a throttled address.
        line="        if wait is not None:\n            seconds = retry_after(wait)",
        planted="        if False:\n            seconds = retry_after(wait)",
        caught_in=("tests/unit/gateway/test_gateway_auth_throttle.py",),
    ),
    Defect(
        name="ipv6-throttled-per-address",
        path="gateway/auth_throttle.py",
        line="return str(IPv6Network((parsed, IPV6_PREFIX_LENGTH), strict=False))",
        planted="return str(parsed)",
        caught_in=("tests/unit/gateway/test_gateway_auth_throttle.py",),
    ),
    Defect(
        name="readiness-ignores-unwritable-store",
        path="integrations/stores/probe.py",
        line="await self._bump()",
        planted="await self._store.ping()",
        caught_in=("tests/unit/integrations/stores/test_readiness_probe_load.py",),
    ),
    Defect(
        name="readiness-writes-every-probe",
        path="integrations/stores/probe.py",
        line="if self._answer is not None and self._monotonic() - self._answered_at < self._fresh_for:",
        planted="if False:",
        caught_in=("tests/unit/integrations/stores/test_readiness_probe_load.py",),
    ),
    Defect(
        name="header-deadline-never-fires",
        path="subgate/deadlines.py",
        line="self.loop.call_later(self.deadlines.header_seconds, self._header_deadline_passed)",
        planted="None",
        caught_in=("tests/unit/subgate/test_request_deadlines_protocol.py",),
    ),
    Defect(
        name="body-deadline-never-fires",
        path="subgate/deadlines.py",
        line="self.loop.call_later(self.deadlines.body_seconds, self._body_deadline_passed)",
        planted="None",
        caught_in=("tests/unit/subgate/test_request_deadlines_protocol.py",),
    ),
    Defect(
        # An event still waiting to be processed taken for a settled one, and removed.
        name="purge-removes-waiting-events",
        path="integrations/stores/retention/batches.py",
        line='SETTLED_EVENTS: Final = ("applied", "ignored", "failed")',
        planted='SETTLED_EVENTS: Final = ("applied", "ignored", "failed", "accepted")',
        caught_in=("tests/contracts/test_retention.py",),
    ),
    Defect(
        # A notification whose delivery waits for a retry loses the body that retry would send.
        name="purge-empties-a-message-still-sent",
        path="integrations/stores/retention/batches.py",
        line="    if not settled(deliveries):\n        return\n",
        planted="    if False:\n        return\n",
        caught_in=("tests/contracts/test_retention.py",),
    ),
    Defect(
        name="replay-of-an-expired-payload-goes",
        path="domain/notifications/replay.py",
        line="if delivery.payload_expired_at is not None:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_gateway_expired_payloads.py",),
    ),
    Defect(
        name="reprocess-of-an-expired-payload-runs",
        path="domain/inbound/external.py",
        line="if found.payload_expired_at is not None:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_gateway_expired_payloads.py",),
    ),
    Defect(
        # A batch that held the store too long is not followed by smaller ones.
        name="purge-batches-never-shrink",
        path="integrations/stores/retention/purge.py",
        line="if took > target:",
        planted="if False:",
        caught_in=("tests/unit/integrations/stores/test_retention_steps.py",),
    ),
    Defect(
        # An idempotency record still replayed removed, when an operator's cutoff is in the future.
        name="purge-removes-live-idempotency-records",
        path="integrations/stores/retention/batches.py",
        line="upto = min(cutoffs.now, max(cutoffs.payloads, cutoffs.records))",
        planted="upto = max(cutoffs.payloads, cutoffs.records)",
        caught_in=("tests/contracts/test_retention.py",),
    ),
    Defect(
        # Without their time, processed inputs' keys are never removed: the store keeps growing.
        name="processed-input-keys-undated",
        path="integrations/stores/repositories.py",
        line='doc = {"id": key, "version": 0, "created_at": codecs.iso(self._clock())}',
        planted='doc = {"id": key, "version": 0}',
        caught_in=("tests/contracts/test_retention.py",),
    ),
    Defect(
        name="payload-retention-setting-ignored",
        path="subgate/commands/store.py",
        line="payloads=timedelta(days=settings.payload_retention_days),",
        planted="payloads=timedelta(days=90),",
        caught_in=("tests/unit/subgate/test_retention_settings.py",),
    ),
    Defect(
        # A new SQLite file without a page map: the pages a purge frees can never be given back.
        name="sqlite-file-without-page-map",
        path="integrations/stores/sqlite/store.py",
        line='conn.execute("PRAGMA auto_vacuum = INCREMENTAL")',
        planted='conn.execute("PRAGMA auto_vacuum = NONE")',
        caught_in=("tests/contracts/test_sqlite_space.py",),
    ),
    Defect(
        name="erasure-leaves-provider-payloads",
        path="domain/inbound/external.py",
        line="if redacted is not None and redacted != event.body:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_gateway_customer_erasure.py",),
    ),
    Defect(
        name="erasure-keeps-email-recipients",
        path="domain/notifications/erasure.py",
        line="        recipient=None,\n        lane=None,\n",
        planted="        lane=None,\n",
        caught_in=("tests/unit/gateway/test_gateway_customer_erasure.py",),
    ),
    Defect(
        # An erased customer written to again, at an address a later payload carries.
        name="erased-customer-emailed-again",
        path="integrations/stores/recipients.py",
        line='if customer is not None and customer.get("erased_at") is not None:',
        planted="if False:",
        caught_in=("tests/contracts/test_notification_repositories.py",),
    ),
    Defect(
        name="erased-customer-given-an-address-again",
        path="domain/subscriptions/external/catalog.py",
        line="if customer.erased_at is not None and (change.email is not None or change.name_changed):",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_gateway_customer_erasure.py",),
    ),
    Defect(
        # The name Stripe copies onto an invoice is left behind by an erasure.
        name="stripe-invoice-name-not-erased",
        path="integrations/providers/stripe/personal.py",
        line='            "customer_name",\n',
        planted="",
        caught_in=("tests/unit/integrations/providers/test_personal_payloads.py",),
    ),
    Defect(
        name="polar-standard-webhooks-key-never-tried",
        path="integrations/providers/polar/signature.py",
        line="if decoded:  # an empty key would be everyone's",
        planted="if False:",
        caught_in=("tests/unit/integrations/providers/test_polar_signature_both_ways.py",),
    ),
    Defect(
        name="paddle-h1-compared-with-eq",
        path="integrations/providers/paddle/signature.py",
        line="if any(hmac.compare_digest(expected, candidate) for candidate in given):",
        planted="if any(expected == candidate for candidate in given):",
        caught_in=("tests/unit/test_secret_comparisons.py",),
    ),
    Defect(
        name="paddle-future-timestamp-accepted",
        path="integrations/providers/paddle/signature.py",
        line="if abs(skew_us) > tolerance_seconds * _MICROSECONDS_PER_SECOND:",
        planted="if skew_us > tolerance_seconds * _MICROSECONDS_PER_SECOND:",
        caught_in=("tests/unit/integrations/providers/test_paddle_signature.py",),
    ),
    Defect(
        name="paddle-timestamp-not-signed",
        path="integrations/providers/paddle/signature.py",
        line='return f"{timestamp}:".encode("ascii") + body',
        planted="return body",
        caught_in=("tests/unit/integrations/providers/test_paddle_signature.py",),
    ),
    Defect(
        name="paddle-scheduled-cancel-ignored",
        path="integrations/providers/paddle/table.py",
        line='if not isinstance(change, dict) or change.get("action") != CANCEL:',
        planted="if True:",
        caught_in=("tests/unit/integrations/providers/test_paddle.py",),
    ),
    Defect(
        name="paddle-custom-data-link-ignored",
        path="integrations/providers/paddle/payloads.py",
        line='return metadata_link(document, field="custom_data")',
        planted="return None",
        caught_in=("tests/unit/integrations/providers/test_paddle.py",),
    ),
    Defect(
        name="paddle-declined-told-as-rejected",
        path="integrations/providers/paddle/management.py",
        line="if code == DECLINED_CODE:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_gateway_paddle_subscriptions.py",),
    ),
    Defect(
        name="renewal-invoice-moves-nothing",
        path="domain/subscriptions/lifecycle.py",
        line="after, events = apply_renewal(sub, cmd, now)",
        planted="after, events = sub, []",
        caught_in=("tests/unit/domain/subscriptions/test_renewal_rules.py",),
    ),
    Defect(
        name="stale-snapshot-takes-the-paid-period-back",
        path="domain/subscriptions/lifecycle.py",
        line="or renewal_position <= cmd.position",
        planted="or True",
        caught_in=("tests/unit/domain/subscriptions/test_renewal_rules.py",),
    ),
    Defect(
        name="renewed-told-twice-for-one-period",
        path="domain/subscriptions/internal.py",
        line="EventType.SUBSCRIPTION_UPDATED if e == EventType.SUBSCRIPTION_RENEWED else e",
        planted="e",
        caught_in=("tests/unit/domain/subscriptions/test_renewal_rules.py",),
    ),
    Defect(
        name="stripe-cycle-invoice-not-a-renewal",
        path="integrations/providers/stripe/table.py",
        line='renewal = invoice.get("billing_reason") == RENEWAL_REASON',
        planted="renewal = False",
        caught_in=("tests/contracts/test_provider_conformance.py",),
    ),
    Defect(
        name="first-active-sight-sends-no-email",
        path="domain/notifications/emails.py",
        line="if event_type == EventType.SUBSCRIPTION_CREATED and status == _ACTIVE:",
        planted="if False:",
        caught_in=("tests/unit/domain/notifications/test_first_sight_email.py",),
    ),
    Defect(
        name="bare-price-id-named-in-emails",
        path="integrations/delivery/email/render.py",
        line="return None if name is None or name in ids else name",
        planted="return name",
        caught_in=("tests/unit/integrations/delivery/test_email_plan_names.py",),
    ),
    Defect(
        name="signing-scheme-written-per-webhook",
        path="domain/merchants/external.py",
        line="if found is None or found.signing_scheme == scheme:",
        planted="if found is None:",
        caught_in=("tests/unit/domain/merchants/test_webhook_connection_cache.py",),
    ),
    Defect(
        name="signing-scheme-never-recorded",
        path="gateway/inbound.py",
        line="await self._deps.merchants.note_signing_scheme(connection, scheme)",
        planted="await self._deps.merchants.note_signing_scheme(connection, None)",
        caught_in=("tests/unit/gateway/test_gateway_signing_scheme.py",),
    ),
    Defect(
        name="portal-link-opens-twice",
        path="domain/merchants/portal.py",
        line="if found.opened_at is not None:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-session-never-expires",
        path="domain/merchants/portal.py",
        line="if now >= self.expires_at:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-revoked-session-still-works",
        path="domain/merchants/portal.py",
        line="if self.revoked_at is not None:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-form-token-not-checked",
        path="gateway/portal/access.py",
        line="if not form_token_matches(token, presented):",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-read-only-may-post",
        path="gateway/portal/access.py",
        line="if visit.read_only:",
        planted="if False:",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-link-token-stored-in-clear",
        path="domain/merchants/portal.py",
        line="link_hash=token_digest(token),",
        planted="link_hash=token,",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-cookie-readable-by-scripts",
        path="gateway/portal/access.py",
        line='"HttpOnly", "SameSite=Lax"]',
        planted='"SameSite=Lax"]',
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="portal-delivery-of-any-merchant",
        path="domain/notifications/history.py",
        line='delivery = owned(await unit.deliveries.get(delivery_id), merchant_id, "delivery", delivery_id)',
        planted=(
            "delivery = await unit.deliveries.get(delivery_id)"
            ' or owned(None, merchant_id, "delivery", delivery_id)'
        ),
        caught_in=(
            "tests/unit/gateway/test_portal_pages.py",
            "tests/unit/gateway/test_gateway_tenant_matrix.py",
        ),
    ),
    Defect(
        name="portal-recover-any-merchants-endpoint",
        path="domain/notifications/external.py",
        line="await self.get_endpoint(merchant_id, endpoint_id)  # another merchant's: NotFound",
        planted="pass",
        caught_in=("tests/unit/gateway/test_portal_pages.py",),
    ),
    Defect(
        name="portal-test-event-fanned-out",
        path="domain/notifications/probes.py",
        line="dispatched=True,",
        planted="dispatched=False,",
        caught_in=("tests/unit/gateway/test_portal_pages.py",),
    ),
    Defect(
        name="portal-stats-not-counted",
        path="domain/notifications/internal.py",
        line="tally.count(stored.merchant_id, stored.endpoint_id, stored.attempts[-1])",
        planted="pass",
        caught_in=("tests/unit/gateway/test_portal_pages.py",),
    ),
    Defect(
        name="portal-time-range-ignored",
        path="integrations/stores/delivery_repos.py",
        line='conditions["id"] = Gt(other) if page.newest_first else Lte(other)',
        planted="pass",
        caught_in=("tests/contracts/test_portal_repositories.py",),
    ),
    Defect(
        name="portal-secret-shown-unrevealed",
        path="gateway/portal/templates/endpoint.html",
        line='<li class="secret">whsec_••••••••',
        planted='<li class="secret">{{ secret.value }}',
        caught_in=("tests/unit/gateway/test_portal_pages.py",),
    ),
    Defect(
        name="portal-throttle-ignores-cookies",
        path="gateway/app.py",
        line="credential=presented_credential,",
        planted="credential=None,",
        caught_in=("tests/unit/gateway/test_portal_sessions.py",),
    ),
    Defect(
        name="link-left-without-subscription-ignored",
        path="domain/subscriptions/internal.py",
        # A provider link whose subscription was never written (a unit cut short on a store
        # without transactions) names the id to create.
        line='id=left or (linked if own_id and linked is not None else new_id("sub")),',
        planted='id=(linked if own_id and linked is not None else new_id("sub")),',
        caught_in=("tests/unit/domain/subscriptions/test_subscriptions_service.py",),
    ),
    Defect(
        name="scheduler-stops-without-redis",
        path="workers/scheduling.py",
        # The stand-in never covers for the cron: timed moves wait for Redis to come back.
        line="        if self._arq_running:\n            return False",
        planted="        if True:\n            return False",
        caught_in=("tests/unit/workers/test_scheduler_job.py",),
    ),
    Defect(
        name="scheduler-stand-in-beside-the-cron",
        path="workers/scheduling.py",
        line="        if self._arq_running:\n            return False",
        planted="        if False:\n            return False",
        caught_in=("tests/unit/workers/test_scheduler_job.py",),
    ),
    Defect(
        name="paddle-customer-events-read-by-type",
        path="integrations/providers/paddle/personal.py",
        # Paddle names an event's type `event_type`; read as `type`, its customer events keep
        # the customer's email and name through an erasure.
        line='    event_type_field="event_type",',
        planted='    event_type_field="type",',
        caught_in=("tests/unit/integrations/providers/test_personal_payloads.py",),
    ),
    Defect(
        name="migration-without-retention-backfill",
        path="integrations/stores/migrations/steps.py",
        # Step 2 without its rewrite: an upgraded store keeps undated keys (never purged) and
        # emails an erasure cannot find.
        line="        rewrite=retention_backfill,",
        planted="        rewrite=None,",
        caught_in=("tests/contracts/test_retention_backfill.py",),
    ),
    Defect(
        name="welcome-without-address-warned",
        path="domain/notifications/internal.py",
        # Every subscription first seen active without a customer address would log a warning.
        line="            if to is None and message.event_type in EMAIL_EVENTS:",
        planted="            if to is None:",
        caught_in=("tests/unit/domain/notifications/test_first_sight_email.py",),
    ),
    Defect(
        name="batch-sees-only-the-store",
        path="integrations/stores/batch.py",
        # `_Layer.visible`: an event of a batch no longer sees what the earlier ones wrote.
        line="layer: _Layer | None = self",
        planted="layer: _Layer | None = None",
        caught_in=("tests/unit/integrations/stores/test_batched_units.py",),
    ),
    Defect(
        name="batch-keeps-a-failed-event",
        path="integrations/stores/batch.py",
        line="            yield\n            self._event.keep()",
        planted=(
            "            try:\n                yield\n"
            "            finally:\n                self._event.keep()"
        ),
        caught_in=("tests/unit/integrations/stores/test_batched_units.py",),
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
        caught_in=("tests/unit/integrations/stores/test_batched_units.py",),
    ),
    Defect(
        name="batch-fails-with-one-bad-event",
        path="workers/batches.py",
        # `_in_batch`: the event's error ends the batch instead of leaving that event alone.
        line="cause=type(error).__name__)\n            return None",
        planted="cause=type(error).__name__)\n            raise",
        caught_in=("tests/unit/workers/test_inbound_batches.py",),
    ),
    Defect(
        name="batch-links-not-read-ahead",
        path="integrations/stores/subscription_reads.py",
        line="    await batch.read_ahead(LINKS, [key for _, key in links])\n",
        planted="",
        caught_in=("tests/unit/workers/test_inbound_batches.py",),
    ),
    Defect(
        name="sparse-index-made-whole",
        path="integrations/stores/sqlite/sql.py",
        line='IS NOT NULL" if spec.sparse else ""',
        planted='IS NOT NULL" if False else ""',
        caught_in=("tests/contracts/test_index_migration.py",),
    ),
    Defect(
        name="retired-index-kept",
        path="integrations/stores/sqlite/store.py",
        line="if table in collections and name not in declared",
        planted="if table in collections and name not in declared and False",
        caught_in=("tests/contracts/test_index_migration.py",),
    ),
    # A MongoDB server without replica set: a change must carry what is left to do.
    Defect(
        name="change-not-carried",
        path="domain/subscriptions/recording.py",
        line="carried = self._carried and bool(messages)",
        planted="carried = False",
        caught_in=("tests/unit/domain/subscriptions/test_units_cut_short.py",),
    ),
    Defect(
        name="carried-messages-not-finished",
        path="domain/subscriptions/recording.py",
        line="        if message.id not in there:\n            await unit.outbox.append(message)",
        planted="        if False:\n            await unit.outbox.append(message)",
        caught_in=("tests/unit/domain/subscriptions/test_units_cut_short.py",),
    ),
    Defect(
        name="fan-out-repeats-deliveries",
        path="domain/notifications/internal.py",
        line="or await unit.deliveries.exists(",
        planted="or False and await unit.deliveries.exists(",
        caught_in=("tests/unit/domain/notifications/test_fan_out_cut_short.py",),
    ),
    Defect(
        name="give-up-not-finished-by-the-claim",
        path="domain/notifications/internal.py",
        line="leased = await self._given_up_before(unit, leased, now)",
        planted="leased = list(leased)",
        caught_in=("tests/unit/domain/notifications/test_fan_out_cut_short.py",),
    ),
)


def plant(defect: Defect, tree: Path) -> None:
    target = tree / defect.path
    text = target.read_text()
    if text.count(defect.line) != 1:
        raise LookupError(f"{defect.name}: {defect.line!r} is not once in {defect.path}")
    target.write_text(text.replace(defect.line, defect.planted))


def nearby_tests(defect: Defect, tree: Path) -> Path | None:
    """The unit tests of the package closest to the defect's file (its own, else a parent's)."""
    package = Path(defect.path).parent
    while package != Path("."):
        candidate = tree / "tests" / "unit" / package
        if candidate.is_dir():
            return candidate
        package = package.parent
    return None


def _failing_test(tree: Path, paths: Sequence[str]) -> str | None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *paths],
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


def steps(defect: Defect, tree: Path) -> list[tuple[Step, list[str]]]:
    """The test paths to run in `tree`, in order until one fails; the tiers whole always last."""
    near = nearby_tests(defect, tree)
    found: list[tuple[Step, list[str]]] = [
        ("named", list(defect.caught_in)),
        ("nearby", [] if near is None else [str(near.relative_to(tree))]),
        ("tiers", list(TIERS)),
    ]
    return [(step, paths) for step, paths in found if paths]


def first_failure(defect: Defect) -> Catch | None:
    """The first test that fails with `defect` planted in a copy of the tree, if any, and its step."""
    with tempfile.TemporaryDirectory(prefix="subgate-defect-") as scratch:
        tree = Path(scratch) / "tree"
        shutil.copytree(ROOT, tree, ignore=SKIPPED_IN_COPY)
        plant(defect, tree)
        for step, paths in steps(defect, tree):
            failed = _failing_test(tree, paths)
            if failed is not None:
                return Catch(test=failed, step=step)
        return None


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
        took = f"{time.monotonic() - started:.0f} s"
        if caught_by is None:
            missed += 1
            sys.stdout.write(f"{defect.name}: NOT CAUGHT ({took})\n")
        else:
            sys.stdout.write(f"{defect.name}: caught by {caught_by.test} ({caught_by.step}, {took})\n")
        sys.stdout.flush()
    sys.stdout.write(f"{len(chosen) - missed} of {len(chosen)} planted defects caught\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
