"""The worker: loops that claim inbound events, outbox messages and deliveries from the store,
and the arq worker around them."""
