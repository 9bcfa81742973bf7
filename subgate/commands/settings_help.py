"""The settings, one line each, for `subgate dev --help` (every one), `serve` and `worker` (theirs).

`subgate.settings` reads them; a unit test keeps this table and that module in step.
"""

from __future__ import annotations

from typing import Final

Setting = tuple[str, str, str, frozenset[str]]

SERVE: Final = frozenset({"serve"})
WORKER: Final = frozenset({"worker"})
BOTH: Final = SERVE | WORKER

SETTINGS: tuple[Setting, ...] = (
    # (variable, default as shown, meaning, the commands besides `dev` that read it); an empty
    # default means unset.
    ("SUBGATE_DATA_DIR", "./.subgate", "SQLite file and embedded Redis files", BOTH),
    ("SUBGATE_DATABASE_URL", "sqlite:///$SUBGATE_DATA_DIR/subgate.db", "or mongodb://host/dbname", BOTH),
    (
        "SUBGATE_REDIS_URL",
        "",
        "redis://:PASSWORD@host:port/db (rediss:// for TLS); unset: an embedded Redis in the data dir",
        BOTH,
    ),
    ("SUBGATE_HOST", "127.0.0.1", "HTTP bind address", SERVE),
    ("SUBGATE_PORT", "8000", "HTTP bind port", SERVE),
    ("SUBGATE_PUBLIC_BASE_URL", "http://HOST:PORT", "base of the webhook_url shown for connections", SERVE),
    ("SUBGATE_TRUSTED_PROXIES", "", "IPs/CIDRs whose X-Forwarded-For entries are trusted", SERVE),
    ("SUBGATE_MAX_BODY_BYTES", "262144", "inbound body limit", SERVE),
    ("SUBGATE_WEBHOOK_TOLERANCE_SECONDS", "300", "allowed signature timestamp skew, past and future", SERVE),
    (
        "SUBGATE_RETRY_SCHEDULE",
        "5,300,1800,7200,18000,36000,36000",
        "seconds between outbound attempts",
        WORKER,
    ),
    ("SUBGATE_DELIVERY_TIMEOUT_SECONDS", "15", "per outbound attempt", WORKER),
    (
        "SUBGATE_ALLOW_PRIVATE_TARGETS",
        "false",
        "allow endpoints on loopback/private addresses; `dev` allows them unless set to false",
        BOTH,
    ),
    ("SUBGATE_WORKER_POLL_SECONDS", "0.5", "how often the worker looks for due work in the database", WORKER),
    ("SUBGATE_WORKER_MAX_JOBS", "200", "deliveries one worker process has in flight at once", WORKER),
    ("SUBGATE_ENDPOINT_CONCURRENCY", "20", "deliveries in flight to one endpoint at once", WORKER),
    (
        "SUBGATE_ORDER_WAIT_SECONDS",
        "600",
        "longest wait for an earlier notification of the same subscription",
        WORKER,
    ),
    (
        "SUBGATE_RATE_LIMIT",
        "100/second",
        "REST requests per API key, e.g. 100/second;5000/hour; 0: none",
        SERVE,
    ),
    (
        "SUBGATE_AUTH_FAILURE_LIMIT",
        "10/minute",
        "failed authentications per client address before 429; 0: none",
        SERVE,
    ),
    (
        "SUBGATE_PORTAL_FRAME_ANCESTORS",
        "'none'",
        "CSP frame-ancestors of portal pages (origins that may embed them, space-separated)",
        SERVE,
    ),
    ("SUBGATE_HEADER_TIMEOUT_SECONDS", "10", "time a client has to send a request's headers", SERVE),
    ("SUBGATE_BODY_TIMEOUT_SECONDS", "30", "time a client has to send a request's body", SERVE),
    (
        "SUBGATE_PAST_DUE_GRACE_DAYS",
        "7",
        "days a past_due subscription run by subgate waits before unpaid",
        BOTH,
    ),
    ("SUBGATE_PAYLOAD_RETENTION_DAYS", "90", "days payloads are kept (bodies; metadata stays)", WORKER),
    ("SUBGATE_RECORD_RETENTION_DAYS", "400", "days settled records are kept", WORKER),
    ("SUBGATE_SMTP_URL", "", "smtp://user:pass@host:port for customer emails (smtps:// for TLS)", WORKER),
    ("SUBGATE_EMAIL_FROM", "billing@localhost", "email sender", WORKER),
    ("SUBGATE_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint for traces and metrics; unset: no export", BOTH),
    (
        "SUBGATE_OTLP_METRICS_ENDPOINT",
        "",
        "OTLP/HTTP endpoint for metrics; unset: SUBGATE_OTLP_ENDPOINT's; none: no metrics export",
        BOTH,
    ),
    ("SUBGATE_METRICS_TOKEN", "", "bearer token /metrics requires; unset: loopback clients only", SERVE),
    ("SUBGATE_TRACE_SAMPLE_RATIO", "1", "share of traces recorded when exporting (0 to 1)", BOTH),
    ("SUBGATE_LOG_FORMAT", "console|json", "console for `dev`, json otherwise", BOTH),
    (
        "SUBGATE_SECRET_KEY",
        "",
        "keys sealing stored secrets, comma-separated, the first seals; unset: DATA_DIR/secret.key if any",
        BOTH,
    ),
)


def read_by(command: str) -> tuple[Setting, ...]:
    """The settings `command` reads: every one for `dev`, which runs both the server and the worker."""
    return tuple(setting for setting in SETTINGS if command == "dev" or command in setting[3])


def settings_epilog(command: str = "dev") -> str:
    shown = read_by(command)
    assignments = [f"{name}={default}" for name, default, _, _ in shown]
    width = max(len(a) for a in assignments)
    lines = [f"  {a:<{width}}  {meaning}" for a, (_, _, meaning, _) in zip(assignments, shown, strict=True)]
    return "\n".join(
        [
            f"settings {command} reads (environment variables with their defaults; a .env file in the",
            "working directory is read too, real variables win):",
            *lines,
            "docs/configuration.md describes each one.",
        ]
    )
