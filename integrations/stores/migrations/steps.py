"""Every migration step, in order: the one list to add to when the stored shape changes.

A new step is one entry at the end, numbered one more than the last:

    Step(number=2, name="payload expiry", indexes=("inbound_events_payload_expiry",)),

naming the collections and indexes it added to `integrations.stores.schema` (a test checks
that everything declared there is in `BASELINE` or brought by a step), and a `rewrite` when
documents already stored need changing (a new field filled in, a value moved). Steps are
forward-only and never edited once released: a later change is a later step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from integrations.stores.migrations.four_digit_years import four_digit_years
from integrations.stores.migrations.step import Step
from integrations.stores.retention.backfill import retention_backfill
from integrations.stores.retention.batches import CUSTOMER_EMAILS_COLLECTION
from integrations.stores.schema import SCHEMA_COLLECTION

STEPS: Final[tuple[Step, ...]] = (
    Step(
        number=1,
        name="schema version recorded; stored times with four-digit years",
        collections=(SCHEMA_COLLECTION,),
        rewrite=four_digit_years,
    ),
    Step(
        number=2,
        name="retention and erasure: payloads and records by age, emails by customer",
        collections=(CUSTOMER_EMAILS_COLLECTION,),
        indexes=(
            "processed_inputs_age",
            "outbox_payload",
            "outbox_age",
            "inbound_events_payload",
            "customer_emails_customer",
        ),
        rewrite=retention_backfill,
    ),
    Step(
        number=3,
        name="merchant portal: sessions, hourly endpoint counters, newest-first filtered lists",
        collections=("endpoint_hours", "portal_sessions"),
        indexes=(
            "inbound_events_merchant_status",
            "deliveries_merchant_endpoint",
            "deliveries_merchant_status",
            "deliveries_merchant_type",
            "deliveries_merchant_subject",
            "endpoint_hours_merchant",
            "portal_sessions_link",
            "portal_sessions_session",
            "portal_sessions_merchant",
            "dead_letters_open",
            "dead_letters_endpoint_open",
        ),
    ),
    Step(
        number=4,
        name="partial indexes: the scheduler's and the leases' hold only set values",
        # They replace subscriptions_due, subscriptions_past_due, inbound_events_lease and
        # deliveries_lease, which SQLite's migration drops (declared no more).
        indexes=(
            "subscriptions_due_set",
            "subscriptions_past_due_set",
            "inbound_events_leased",
            "deliveries_leased",
        ),
    ),
)

# What the last release without a recorded schema version (version 0) created: collection ->
# its index names. Stores of that release have exactly this, and their data in its shape.
BASELINE: Final[Mapping[str, frozenset[str]]] = {
    "merchants": frozenset({"merchants_key_hash"}),
    "connections": frozenset({"connections_merchant", "connections_sealed_with"}),
    "customers": frozenset({"customers_merchant"}),
    "plans": frozenset({"plans_merchant"}),
    "subscriptions": frozenset(
        {
            "subscriptions_merchant",
            "subscriptions_merchant_status",
            "subscriptions_merchant_customer",
            "subscriptions_merchant_provider_id",
            "subscriptions_due",
            "subscriptions_past_due",
        }
    ),
    "provider_links": frozenset(),
    "processed_inputs": frozenset(),
    "outbox": frozenset({"outbox_pending"}),
    "inbound_events": frozenset(
        {
            "inbound_events_provider_id",
            "inbound_events_merchant",
            "inbound_events_status",
            "inbound_events_due",
            "inbound_events_lease",
        }
    ),
    "endpoints": frozenset({"endpoints_merchant", "endpoints_sealed_with"}),
    "deliveries": frozenset(
        {
            "deliveries_message_endpoint",
            "deliveries_merchant",
            "deliveries_due",
            "deliveries_lease",
            "deliveries_lane",
            "deliveries_endpoint_status",
        }
    ),
    "workers": frozenset({"workers_heartbeat"}),
    "dead_letters": frozenset(
        {"dead_letters_merchant", "dead_letters_merchant_kind", "dead_letters_delivery"}
    ),
    "idempotency_keys": frozenset(
        {"idempotency_keys_merchant_key", "idempotency_keys_expiry", "idempotency_keys_sealed_with"}
    ),
    "readiness_probes": frozenset(),
}
