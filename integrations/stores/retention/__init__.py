"""Retention: payloads removed once old enough, then settled records (see `purge`)."""
