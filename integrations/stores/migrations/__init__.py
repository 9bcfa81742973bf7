"""The store's schema version and the forward-only steps that bring an older store up to it."""
