"""Telemetry: tracing and logging (`tracing`), and the operational metrics (`metrics`)."""
