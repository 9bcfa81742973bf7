"""Every collection and index, declared once for both backends (`subgate migrate`).

A store is created from this whole declaration; an existing store gets what a release adds
through a migration step (`integrations.stores.migrations.steps`), which names it.

Every index serves a query of the service (`tests/contracts/test_sqlite_query_plans.py` checks
each one on SQLite). On SQLite, migrating drops the indexes of these collections that are not
declared here any more; MongoDB keeps them (some servers rename indexes, so they are never
looked up by name), which costs its writes a little and changes no answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from integrations.stores.documents import IndexSpec

# One document: the store's schema version and the lock of a migration under way
# (integrations.stores.migrations.runner).
SCHEMA_COLLECTION: Final = "store_schema"

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
    # id = the input's key; retention removes keys by age (integrations.stores.retention).
    "processed_inputs": (IndexSpec("processed_inputs_age", ("created_at",)),),
    "outbox": (
        IndexSpec("outbox_pending", ("dispatched", "id")),
        # Retention (integrations.stores.retention): bodies to remove, then messages to remove.
        IndexSpec("outbox_payload", ("payload_expired_at", "occurred_at")),
        IndexSpec("outbox_age", ("occurred_at",)),
    ),
    "inbound_events": (
        IndexSpec("inbound_events_provider_id", ("connection_id", "provider_event_id"), unique=True),
        IndexSpec("inbound_events_merchant", ("merchant_id", "id")),
        IndexSpec("inbound_events_status", ("status", "received_at")),
        IndexSpec("inbound_events_due", ("status", "due_at")),
        # Only what a worker holds: a finished event has no lease owner.
        IndexSpec("inbound_events_leased", ("lease_owner",), sparse=True),
        # Retention: the bodies to remove, oldest first (settled events are removed by status).
        IndexSpec("inbound_events_payload", ("payload_expired_at", "received_at")),
        IndexSpec("inbound_events_merchant_status", ("merchant_id", "status", "id")),
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
        # The portal's lists, newest first, by each filter (a time range is a range of ids).
        IndexSpec("deliveries_merchant_endpoint", ("merchant_id", "endpoint_id", "id")),
        IndexSpec("deliveries_merchant_status", ("merchant_id", "status", "id")),
        IndexSpec("deliveries_merchant_type", ("merchant_id", "event_type", "id")),
        IndexSpec("deliveries_merchant_subject", ("merchant_id", "subject_id", "id")),
    ),
    # Attempts by outcome per endpoint, hour and recording worker (domain.notifications.stats):
    # a merchant's last day is a range of its hours.
    "endpoint_hours": (IndexSpec("endpoint_hours_merchant", ("merchant_id", "hour", "id")),),
    # Portal sessions, found by the digest of a link's or a browser's token; revoked per merchant.
    # (Not unique on `session_hash`: unopened sessions all hold null there, which MongoDB's unique
    # indexes count as one value; digests of random tokens do not collide anyway.)
    "portal_sessions": (
        IndexSpec("portal_sessions_link", ("link_hash",), unique=True),
        IndexSpec("portal_sessions_session", ("session_hash",)),
        IndexSpec("portal_sessions_merchant", ("merchant_id", "revoked_at", "id")),
    ),
    # One document per running worker process: its heartbeat. Work leased by a worker
    # whose heartbeat stopped is handed back (see integrations.stores.leases).
    "workers": (IndexSpec("workers_heartbeat", ("alive", "heartbeat_at")),),
    # One document per customer email (id = the delivery's): how an erasure finds a customer's emails.
    "customer_emails": (IndexSpec("customer_emails_customer", ("merchant_id", "customer_id", "id")),),
    "dead_letters": (
        IndexSpec("dead_letters_merchant", ("merchant_id", "id")),
        IndexSpec("dead_letters_merchant_kind", ("merchant_id", "kind", "id")),
        IndexSpec("dead_letters_delivery", ("delivery_id",)),
        # Open ones (not replayed), of a merchant or of one of its endpoints: listed and counted.
        IndexSpec("dead_letters_open", ("merchant_id", "replayed_at", "id")),
        IndexSpec("dead_letters_endpoint_open", ("merchant_id", "endpoint_id", "replayed_at", "id")),
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
    SCHEMA_COLLECTION: (),
}
