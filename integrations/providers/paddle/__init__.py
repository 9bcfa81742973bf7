"""Paddle Billing: `Paddle-Signature` checks, the normalization table, and subscription management."""
