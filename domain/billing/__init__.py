"""Billing: provider events as received, stored once, and their processing status."""
