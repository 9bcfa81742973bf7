"""Stripe: webhook signature checks, the normalization table, and the API calls (fetch, manage)."""
