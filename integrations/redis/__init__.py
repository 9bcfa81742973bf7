"""Redis integration: connection helpers and an embedded server for local dev."""
