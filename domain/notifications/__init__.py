"""Notifications: merchant endpoints, deliveries with retries, and dead letters."""
