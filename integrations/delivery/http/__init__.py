"""Outbound HTTP: signing and sending merchant webhooks, and the one reading of endpoint URLs."""
