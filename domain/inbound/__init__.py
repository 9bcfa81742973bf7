"""Inbound events: provider events as received, stored once, and their processing status."""
