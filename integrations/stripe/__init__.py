"""Stripe integration: webhook signature checks and related helpers."""
