"""Merchants: tenants, their API keys and their provider connections."""
