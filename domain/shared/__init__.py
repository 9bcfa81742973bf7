"""The shared kernel: clock, ids, errors, transactions, outbox and pagination."""
