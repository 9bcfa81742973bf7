"""Subscriptions: customers, plans and the subscription state machine."""
