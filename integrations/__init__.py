"""Adapters, one sub-package per kind of outside thing: payment providers (`providers`), the
stores (`stores`), outbound delivery (`delivery`), telemetry (`telemetry`) and Redis (`redis`)."""
