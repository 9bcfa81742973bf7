"""Adapters: storage, queue, providers, outbound HTTP, telemetry, and the composition root."""
