"""Redis as every process uses it: the shared client (arq's, jobs as JSON), the rate limiter and
failed-authentication counters, and the wake-up signals. The embedded server itself is run by the
process layer (`subgate.redis`)."""
