"""Outbound HTTP: signing and sending merchant webhooks."""
