"""The settings, one line each, for `subgate dev --help` (and `serve`, `worker`).

`subgate.settings` reads them; a unit test keeps this table and that module in step.
"""

from __future__ import annotations

SETTINGS: tuple[tuple[str, str, str], ...] = (
    # (variable, default as shown, meaning); an empty default means unset.
    ("SUBGATE_DATA_DIR", "./.subgate", "SQLite file and embedded Redis files"),
    ("SUBGATE_DATABASE_URL", "sqlite:///$SUBGATE_DATA_DIR/subgate.db", "or mongodb://host/dbname"),
    (
        "SUBGATE_REDIS_URL",
        "",
        "redis://:PASSWORD@host:port/db (rediss:// for TLS); unset: an embedded Redis in the data dir",
    ),
    ("SUBGATE_HOST", "127.0.0.1", "HTTP bind address"),
    ("SUBGATE_PORT", "8000", "HTTP bind port"),
    ("SUBGATE_PUBLIC_BASE_URL", "http://HOST:PORT", "base of the webhook_url shown for connections"),
    ("SUBGATE_TRUSTED_PROXIES", "", "IPs/CIDRs whose X-Forwarded-For entries are trusted"),
    ("SUBGATE_MAX_BODY_BYTES", "262144", "inbound body limit"),
    ("SUBGATE_WEBHOOK_TOLERANCE_SECONDS", "300", "allowed signature timestamp skew, past and future"),
    ("SUBGATE_RETRY_SCHEDULE", "5,300,1800,7200,18000,36000,36000", "seconds between outbound attempts"),
    ("SUBGATE_DELIVERY_TIMEOUT_SECONDS", "15", "per outbound attempt"),
    (
        "SUBGATE_ALLOW_PRIVATE_TARGETS",
        "false",
        "allow endpoints on loopback/private addresses; `dev` allows them unless set to false",
    ),
    ("SUBGATE_WORKER_POLL_SECONDS", "0.5", "how often the worker looks for due work in the database"),
    ("SUBGATE_WORKER_MAX_JOBS", "200", "deliveries one worker process has in flight at once"),
    ("SUBGATE_ENDPOINT_CONCURRENCY", "20", "deliveries in flight to one endpoint at once"),
    (
        "SUBGATE_ORDER_WAIT_SECONDS",
        "600",
        "longest wait for an earlier notification of the same subscription",
    ),
    ("SUBGATE_RATE_LIMIT", "100/second", "REST requests per API key, e.g. 100/second;5000/hour; 0: none"),
    (
        "SUBGATE_AUTH_FAILURE_LIMIT",
        "10/minute",
        "failed authentications per client address before 429; 0: none",
    ),
    (
        "SUBGATE_PORTAL_FRAME_ANCESTORS",
        "'none'",
        "CSP frame-ancestors of portal pages (origins that may embed them, space-separated)",
    ),
    ("SUBGATE_HEADER_TIMEOUT_SECONDS", "10", "time a client has to send a request's headers"),
    ("SUBGATE_BODY_TIMEOUT_SECONDS", "30", "time a client has to send a request's body"),
    ("SUBGATE_PAST_DUE_GRACE_DAYS", "7", "days a past_due subscription run by subgate waits before unpaid"),
    ("SUBGATE_SMTP_URL", "", "smtp://user:pass@host:port for customer emails (smtps:// for TLS)"),
    ("SUBGATE_EMAIL_FROM", "billing@localhost", "email sender"),
    ("SUBGATE_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint for traces and metrics; unset: no export"),
    (
        "SUBGATE_OTLP_METRICS_ENDPOINT",
        "",
        "OTLP/HTTP endpoint for metrics; unset: SUBGATE_OTLP_ENDPOINT's; none: no metrics export",
    ),
    ("SUBGATE_METRICS_TOKEN", "", "bearer token /metrics requires; unset: loopback clients only"),
    ("SUBGATE_TRACE_SAMPLE_RATIO", "1", "share of traces recorded when exporting (0 to 1)"),
    ("SUBGATE_LOG_FORMAT", "console|json", "console for `dev`, json otherwise"),
    (
        "SUBGATE_SECRET_KEY",
        "",
        "keys sealing stored secrets, comma-separated, the first seals; unset: DATA_DIR/secret.key if any",
    ),
)


def settings_epilog() -> str:
    assignments = [f"{name}={default}" for name, default, _ in SETTINGS]
    width = max(len(a) for a in assignments)
    lines = [f"  {a:<{width}}  {meaning}" for a, (_, _, meaning) in zip(assignments, SETTINGS, strict=True)]
    return "\n".join(
        [
            "settings (environment variables with their defaults; a .env file in the working",
            "directory is read too, real variables win):",
            *lines,
            'README.md, section "Configuration", describes each one.',
        ]
    )
