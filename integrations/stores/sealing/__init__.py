"""Secrets sealed at rest: the keys (`keys`, `keyring`), the store that seals and opens them
(`sealed`), and re-sealing after a key rotation (`resealing`)."""
