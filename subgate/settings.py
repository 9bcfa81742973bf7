"""Settings from the environment (and an optional `.env` file), validated once at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from domain.notifications.emails import has_line_break
from domain.notifications.retry import parse_schedule
from domain.shared.errors import ValidationFailed
from integrations.delivery.email.url import parse_smtp_url
from integrations.stores.sealing.keys import SETTING as SECRET_KEY_SETTING, parse_keys
from subgate.keyfile import key_file, read_key_file
from subgate.redis.url import problem_with as redis_url_problem

N = TypeVar("N", int, float)

SECONDS_PER_DAY = 86_400
# Deliveries one worker process has in flight at once.
DEFAULT_WORKER_MAX_JOBS = 200
DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"
DEFAULT_RATE_LIMIT = "100/second"
DEFAULT_PAST_DUE_GRACE_DAYS = 7
# Failed authentications one client address may make (`limits` notation) before it is refused.
DEFAULT_AUTH_FAILURE_LIMIT = "10/minute"
# How long a client may take to send a request's headers, then its body (see subgate.deadlines).
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
MAX_PAST_DUE_GRACE_DAYS = 3650
DEFAULT_PAYLOAD_RETENTION_DAYS = 90.0
DEFAULT_RECORD_RETENTION_DAYS = 400.0
# A hundred years: beyond it a cutoff would fall before the calendar's first year.
MAX_RETENTION_DAYS = 36_500.0
# One limit in the `limits` library's notation (a subset of it: whole positive numbers, `;` between
# several). Checked here with the standard library: admin commands read settings too and must not
# load the server's dependencies.
_ONE_RATE_LIMIT = re.compile(
    r"[1-9][0-9]*\s*(?:/|\s+per\s+)\s*(?:[1-9][0-9]*\s*)?(?:second|minute|hour|day|month|year)s?",
    re.IGNORECASE,
)


_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
DEFAULT_FRAME_ANCESTORS = "'none'"
# One CSP source of `frame-ancestors`: a keyword, or a scheme/host source (no `;`, `,`, quotes
# elsewhere or spaces inside, so nothing can end the directive or add another).
_FRAME_SOURCE = re.compile(
    r"'none'|'self'|[a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?[a-z0-9*.-]+(:(\d{1,5}|\*))?(/[^\s;,']*)?"
)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    # None: the data dir's embedded Redis. Always with a password, so never in a repr.
    redis_url: str | None = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: str = ""
    max_body_bytes: int = 262_144
    webhook_tolerance_seconds: int = 300
    retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    delivery_timeout_seconds: float = 15.0
    allow_private_targets: bool = False
    smtp_url: str | None = None
    email_from: str = "billing@localhost"
    otlp_endpoint: str | None = None
    # Where metrics go by OTLP/HTTP (the traces' endpoint unless set apart); None: not exported.
    otlp_metrics_endpoint: str | None = None
    # Bearer token `/metrics` requires; None: it answers loopback clients only.
    metrics_token: str | None = None
    log_format: str = "json"
    worker_poll_seconds: float = 0.5
    worker_max_jobs: int = DEFAULT_WORKER_MAX_JOBS
    endpoint_concurrency: int = 20
    trace_sample_ratio: float = 1.0
    public_base_url: str | None = None
    # How long a notification waits for an earlier one of the same subscription to the same
    # endpoint (or address) before it is sent anyway.
    order_wait_seconds: float = 600.0
    # REST requests per API key (`limits` notation); None: unlimited.
    rate_limit: str | None = DEFAULT_RATE_LIMIT
    # Days a subscription subgate runs stays past_due before the scheduler makes it unpaid.
    past_due_grace_days: int = DEFAULT_PAST_DUE_GRACE_DAYS
    # Keys that seal stored secrets, the first one sealing; empty: secrets are kept in clear.
    # Left out of the repr, so that logging the settings never shows them.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    # Where they came from, for messages: the setting, or the data directory's key file.
    secret_key_source: str = SECRET_KEY_SETTING
    # Failed authentications per client address (`limits` notation); None: not throttled.
    auth_failure_limit: str | None = DEFAULT_AUTH_FAILURE_LIMIT
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    # Payloads (bodies) older than this are removed, their metadata kept; settled records older
    # than the other are removed (see integrations.stores.retention). Days, decimals allowed.
    payload_retention_days: float = DEFAULT_PAYLOAD_RETENTION_DAYS
    record_retention_days: float = DEFAULT_RECORD_RETENTION_DAYS
    # CSP `frame-ancestors` of the portal's pages: who may embed them.
    portal_frame_ancestors: str = DEFAULT_FRAME_ANCESTORS

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments and blank lines are skipped; quotes around values are removed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    read: Callable[[str], N],
    expected: str,
    fits: tuple[Callable[[N], bool], str],
) -> N:
    """The setting `name` read by `read` (SettingsError saying `expected`), within `fits`."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = read(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected {expected}, got {raw!r}") from None
    within, bounds = fits
    if not within(value):
        raise SettingsError(f"{name}: must be {bounds}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, int, "an integer", (lambda v: v >= minimum, f"at least {minimum}"))


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    seconds = (lambda v: 0 < v < SECONDS_PER_DAY, "between 0 and 86400 seconds")
    return _number(env, name, default, float, "a number", seconds)


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number from 0 to 1", (lambda v: 0 <= v <= 1, "from 0 to 1"))


def _days(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of days above 0 (decimals allowed: 0.01 is about a quarter of an hour)."""
    if env.get(name, "").strip() == "":
        return default
    within = (lambda v: 0 < v <= MAX_RETENTION_DAYS, f"more than 0 and at most {MAX_RETENTION_DAYS:.0f} days")
    return _number(env, name, default, _plain_decimal, "a number of days such as 90 or 0.5", within)


def _plain_decimal(raw: str) -> float:
    # Plain decimal digits only: float() would also read "1e3", "nan" or other scripts' digits.
    if _DECIMAL.fullmatch(raw.strip()) is None:
        raise ValueError(raw)
    return float(raw)


def _bool(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def load_settings(
    environ: Mapping[str, str] | None = None, *, dev: bool = False, dotenv: Path | None = Path(".env")
) -> Settings:
    """Real environment variables win over the `.env` file."""
    env = {**(read_dotenv(dotenv) if dotenv else {}), **(os.environ if environ is None else environ)}
    data_dir = Path(env.get("SUBGATE_DATA_DIR") or "./.subgate").resolve()
    database_url = env.get("SUBGATE_DATABASE_URL") or f"sqlite:///{data_dir / 'subgate.db'}"
    if not database_url.startswith(("sqlite:///", "mongodb://", "mongodb+srv://")):
        raise SettingsError("SUBGATE_DATABASE_URL: expected sqlite:///path or mongodb://...")
    try:
        schedule = parse_schedule(env.get("SUBGATE_RETRY_SCHEDULE") or DEFAULT_SCHEDULE)
    except ValidationFailed as error:
        raise SettingsError(f"SUBGATE_RETRY_SCHEDULE: {error.message}") from None
    log_format = env.get("SUBGATE_LOG_FORMAT") or ("console" if dev else "json")
    if log_format not in ("console", "json"):
        raise SettingsError("SUBGATE_LOG_FORMAT: expected console or json")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=_redis_url(env),
        host=env.get("SUBGATE_HOST") or "127.0.0.1",
        port=_int(env, "SUBGATE_PORT", 8000),
        trusted_proxies=env.get("SUBGATE_TRUSTED_PROXIES", ""),
        max_body_bytes=_int(env, "SUBGATE_MAX_BODY_BYTES", 262_144, minimum=1),
        webhook_tolerance_seconds=_int(env, "SUBGATE_WEBHOOK_TOLERANCE_SECONDS", 300),
        retry_schedule=schedule,
        delivery_timeout_seconds=_float(env, "SUBGATE_DELIVERY_TIMEOUT_SECONDS", 15.0),
        # `dev` is a local development mode: endpoints on this machine are what it is for.
        allow_private_targets=_bool(env, "SUBGATE_ALLOW_PRIVATE_TARGETS", default=dev),
        smtp_url=_smtp_url(env),
        email_from=_email_from(env),
        otlp_endpoint=env.get("SUBGATE_OTLP_ENDPOINT") or None,
        otlp_metrics_endpoint=_otlp_metrics_endpoint(env),
        metrics_token=env.get("SUBGATE_METRICS_TOKEN") or None,
        log_format=log_format,
        worker_poll_seconds=_float(env, "SUBGATE_WORKER_POLL_SECONDS", 0.5),
        worker_max_jobs=_int(env, "SUBGATE_WORKER_MAX_JOBS", DEFAULT_WORKER_MAX_JOBS, minimum=1),
        endpoint_concurrency=_int(env, "SUBGATE_ENDPOINT_CONCURRENCY", 20, minimum=1),
        trace_sample_ratio=_ratio(env, "SUBGATE_TRACE_SAMPLE_RATIO", 1.0),
        public_base_url=env.get("SUBGATE_PUBLIC_BASE_URL") or None,
        order_wait_seconds=_float(env, "SUBGATE_ORDER_WAIT_SECONDS", 600.0),
        rate_limit=_limit(env, "SUBGATE_RATE_LIMIT", DEFAULT_RATE_LIMIT),
        past_due_grace_days=_grace_days(env),
        **_secret_keys(env, data_dir),
        auth_failure_limit=_limit(env, "SUBGATE_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT),
        header_timeout_seconds=_float(env, "SUBGATE_HEADER_TIMEOUT_SECONDS", DEFAULT_HEADER_TIMEOUT_SECONDS),
        body_timeout_seconds=_float(env, "SUBGATE_BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT_SECONDS),
        payload_retention_days=_days(env, "SUBGATE_PAYLOAD_RETENTION_DAYS", DEFAULT_PAYLOAD_RETENTION_DAYS),
        record_retention_days=_days(env, "SUBGATE_RECORD_RETENTION_DAYS", DEFAULT_RECORD_RETENTION_DAYS),
        portal_frame_ancestors=_frame_ancestors(env),
    )


def key_file_source(path: Path) -> str:
    return f"{SECRET_KEY_SETTING} (unset: the key file {path})"


def _secret_keys(env: Mapping[str, str], data_dir: Path) -> dict[str, Any]:
    """SUBGATE_SECRET_KEY; while it is unset, the data directory's key file when there is one."""
    raw = env.get("SUBGATE_SECRET_KEY", "").strip()
    source = SECRET_KEY_SETTING
    if not raw:
        path = key_file(data_dir)
        try:
            raw = read_key_file(path) or ""
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(
                f"{SECRET_KEY_SETTING} is unset and the key file {path} cannot be read: {error}"
            ) from None
        source = key_file_source(path)
        if not raw:
            return {}
    try:
        keys = parse_keys(raw, source)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    return {"secret_keys": keys, "secret_key_source": source}


def _grace_days(env: Mapping[str, str]) -> int:
    days = _int(env, "SUBGATE_PAST_DUE_GRACE_DAYS", DEFAULT_PAST_DUE_GRACE_DAYS)
    if days > MAX_PAST_DUE_GRACE_DAYS:
        raise SettingsError(f"SUBGATE_PAST_DUE_GRACE_DAYS: must be at most {MAX_PAST_DUE_GRACE_DAYS}")
    return days


def _limit(env: Mapping[str, str], name: str, default: str) -> str | None:
    """Unset: the default; `0` or empty: no limit; otherwise `N/unit`, several joined by `;`."""
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if text in ("", "0"):
        return None
    if not all(_ONE_RATE_LIMIT.fullmatch(part.strip()) for part in text.split(";")):
        raise SettingsError(
            f"{name}: expected a number per period such as 100/second or "
            f"100/second;5000/hour (0 for no limit), got {raw!r}"
        )
    return text


def _frame_ancestors(env: Mapping[str, str]) -> str:
    """SUBGATE_PORTAL_FRAME_ANCESTORS: sources separated by spaces (or commas); `'none'` alone."""
    raw = (env.get("SUBGATE_PORTAL_FRAME_ANCESTORS") or "").strip()
    if not raw:
        return DEFAULT_FRAME_ANCESTORS
    sources = raw.replace(",", " ").split()
    wrong = [s for s in sources if _FRAME_SOURCE.fullmatch(s.lower()) is None]
    if wrong or not raw.isascii() or not raw.isprintable() or ("'none'" in sources and len(sources) > 1):
        raise SettingsError(
            "SUBGATE_PORTAL_FRAME_ANCESTORS: expected 'none', 'self' or origins such as "
            f"https://dashboard.example.com, separated by spaces; got {raw!r}"
        )
    return " ".join(sources)


def _otlp_metrics_endpoint(env: Mapping[str, str]) -> str | None:
    """Unset: where the traces go; `none`: metrics are only read at `/metrics`."""
    raw = (env.get("SUBGATE_OTLP_METRICS_ENDPOINT") or "").strip()
    if not raw:
        return env.get("SUBGATE_OTLP_ENDPOINT") or None
    return None if raw.lower() == "none" else raw


def _redis_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("SUBGATE_REDIS_URL") or None
    problem = None if raw is None else redis_url_problem(raw)
    if problem is not None:
        # The URL itself is not repeated: it may hold a secret, even if not where it belongs.
        raise SettingsError(f"SUBGATE_REDIS_URL: {problem}")
    return raw


def _smtp_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("SUBGATE_SMTP_URL") or None
    if raw is not None:
        try:
            parse_smtp_url(raw)
        except ValueError as error:
            raise SettingsError(f"SUBGATE_SMTP_URL: {error}") from None
    return raw


def _email_from(env: Mapping[str, str]) -> str:
    value = env.get("SUBGATE_EMAIL_FROM") or "billing@localhost"
    if has_line_break(value) or "@" not in value:
        raise SettingsError("SUBGATE_EMAIL_FROM: expected one address such as billing@example.com")
    return value
