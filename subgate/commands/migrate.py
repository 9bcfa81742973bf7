"""`subgate migrate [--check]`: the store's schema brought to this release's, or only compared.

`--check` changes nothing (it does not even create a missing SQLite file) and answers with its
exit status: 0 when the schema is current, 3 when the store needs `subgate migrate` (an older
schema, or an empty store that has none yet), 4 when the store is newer than this release.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from integrations.stores.migrations.runner import Upgrade
from integrations.stores.migrations.state import SchemaState
from integrations.stores.migrations.steps import STEPS
from subgate.cli import SCHEMA_BEHIND_EXIT, SCHEMA_NEWER_EXIT
from subgate.commands.store import backend, prepare_schema, schema_state
from subgate.settings import Settings

CURRENT = 0
_SQLITE = "sqlite:///"


def exit_status(state: SchemaState) -> int:
    if state.current:
        return CURRENT
    return SCHEMA_NEWER_EXIT if state.newer else SCHEMA_BEHIND_EXIT


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        url = settings.database_url
        if url.startswith(_SQLITE) and not Path(url.removeprefix(_SQLITE)).exists():
            state = SchemaState(None, STEPS)  # nothing there: checked without creating the file
        else:
            state = asyncio.run(_state(url))
        print(state.describe())  # noqa: T201 - CLI output
        return exit_status(state)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade = asyncio.run(_upgrade(settings))
    print("migrated")  # noqa: T201 - CLI output
    print(_what_changed(upgrade), file=sys.stderr)  # noqa: T201 - CLI output, beside the result
    return 0


def _what_changed(upgrade: Upgrade) -> str:
    if upgrade.applied:
        steps = ", ".join(step.title for step in upgrade.applied)
        return f"schema version {upgrade.before.version} -> {upgrade.after}: ran step {steps}"
    if upgrade.before.empty:
        return f"schema version {upgrade.after} created"
    return f"schema version {upgrade.after} was already current"


async def _state(url: str) -> SchemaState:
    store = backend(url)
    try:
        return await schema_state(store)
    finally:
        await store.close()


async def _upgrade(settings: Settings) -> Upgrade:
    store = backend(settings.database_url)
    try:
        return await prepare_schema(store, upgrade=True)
    finally:
        await store.close()
