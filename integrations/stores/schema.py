"""Every collection and index, declared once for both backends (`subgate migrate`).

Every index serves a query of the service (`tests/contracts/test_sqlite_query_plans.py` checks
each one on SQLite). On SQLite, migrating drops the indexes of these collections that are not
declared here any more; MongoDB keeps them (some servers rename indexes, so they are never
looked up by name), which costs its writes a little and changes no answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from integrations.stores.documents import IndexSpec

COLLECTIONS: Mapping[str, Sequence[IndexSpec]] = {
    "merchants": (IndexSpec("merchants_key_hash", ("api_key_hash",), unique=True),),
    # `sealed_with`: which key sealed a document's secrets (integrations.stores.sealing.sealed); the
    # re-sealing after a rotation finds the documents an older key sealed by it.
    "connections": (
        IndexSpec("connections_merchant", ("merchant_id", "id")),
        IndexSpec("connections_sealed_with", ("sealed_with", "id")),
    ),
    "customers": (IndexSpec("customers_merchant", ("merchant_id", "id")),),
    "plans": (IndexSpec("plans_merchant", ("merchant_id", "id")),),
    "subscriptions": (
        IndexSpec("subscriptions_merchant", ("merchant_id", "id")),
        IndexSpec("subscriptions_merchant_status", ("merchant_id", "status", "id")),
        IndexSpec("subscriptions_merchant_customer", ("merchant_id", "customer_id", "id")),
        IndexSpec("subscriptions_merchant_provider_id", ("merchant_id", "provider_subscription_id", "id")),
        # The scheduler's queries: what is due, earliest first (see domain.subscriptions.timed_moves).
        # Most subscriptions have nothing due (a provider runs their clock): those are left out.
        IndexSpec("subscriptions_due_set", ("next_transition_at", "id"), sparse=True),
        IndexSpec("subscriptions_past_due_set", ("past_due_since", "id"), sparse=True),
    ),
    # id = merchant:kind:provider:external id, so uniqueness comes from the primary key.
    "provider_links": (),
    # id = the input's key.
    "processed_inputs": (),
    "outbox": (IndexSpec("outbox_pending", ("dispatched", "id")),),
    "inbound_events": (
        IndexSpec("inbound_events_provider_id", ("connection_id", "provider_event_id"), unique=True),
        IndexSpec("inbound_events_merchant", ("merchant_id", "id")),
        IndexSpec("inbound_events_due", ("status", "due_at")),
        # Only what a worker holds: a finished event has no lease owner.
        IndexSpec("inbound_events_leased", ("lease_owner",), sparse=True),
    ),
    "endpoints": (
        IndexSpec("endpoints_merchant", ("merchant_id", "id")),
        IndexSpec("endpoints_sealed_with", ("sealed_with", "id")),
    ),
    "deliveries": (
        IndexSpec("deliveries_message_endpoint", ("message_id", "endpoint_id"), unique=True),
        IndexSpec("deliveries_merchant", ("merchant_id", "id")),
        IndexSpec("deliveries_due", ("status", "next_attempt_at")),
        IndexSpec("deliveries_leased", ("lease_owner",), sparse=True),
        # The earliest open delivery of a lane (per-subscription order), and an endpoint's open ones.
        IndexSpec("deliveries_lane", ("lane", "status", "id")),
        IndexSpec("deliveries_endpoint_status", ("endpoint_id", "status")),
    ),
    # One document per running worker process: its heartbeat. Work leased by a worker
    # whose heartbeat stopped is handed back (see integrations.stores.leases).
    "workers": (IndexSpec("workers_heartbeat", ("alive", "heartbeat_at")),),
    "dead_letters": (
        IndexSpec("dead_letters_merchant", ("merchant_id", "id")),
        IndexSpec("dead_letters_merchant_kind", ("merchant_id", "kind", "id")),
        IndexSpec("dead_letters_delivery", ("delivery_id",)),
    ),
    # One record per merchant and Idempotency-Key (integrations.stores.idempotency); expired
    # ones are found by expiry time.
    "idempotency_keys": (
        IndexSpec("idempotency_keys_merchant_key", ("merchant_id", "key"), unique=True),
        IndexSpec("idempotency_keys_expiry", ("expires_at",)),
        IndexSpec("idempotency_keys_sealed_with", ("sealed_with", "id")),
    ),
    # One document, rewritten by readiness checks to learn whether the store takes writes
    # (integrations.stores.probe).
    "readiness_probes": (),
}
