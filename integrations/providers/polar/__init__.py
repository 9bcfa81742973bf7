"""Polar integration: Standard Webhooks verification and the normalization table."""
