"""`subgate backup FILE` and `subgate restore FILE` (see `subgate.backup` for the archive).

Exit status: 0 done; 2 refused before anything was written (a MongoDB store, an existing
FILE, a data directory that is not empty); 1 an archive that is not a complete backup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from integrations.stores.migrations.state import SchemaState
from integrations.stores.migrations.steps import STEPS
from subgate.backup import (
    BackupRefused,
    BackupUnreadable,
    Restored,
    keys_missing,
    restore as restore_into,
    take,
)
from subgate.settings import Settings

REFUSED = 2
UNREADABLE = 1


def backup(args: argparse.Namespace, settings: Settings) -> int:
    target = Path(args.file)
    try:
        manifest = take(settings, target)
    except BackupRefused as refused:
        print(f"subgate: backup refused: {refused}", file=sys.stderr)  # noqa: T201 - CLI output
        return REFUSED
    kept = ", ".join(name for name in manifest.members)
    print(f"backup written to {target} (0600): {kept}; taken at {manifest.taken_at}")  # noqa: T201 - CLI output
    if "secret.key" not in manifest.members and manifest.key_ids:
        print(  # noqa: T201 - CLI output
            f"note: the stored secrets are sealed with key id(s) {', '.join(manifest.key_ids)} from "
            "SUBGATE_SECRET_KEY, which is not in the backup: keep that setting with it"
        )
    return 0


def restore(args: argparse.Namespace, settings: Settings) -> int:
    try:
        restored = restore_into(settings, Path(args.file))
    except BackupRefused as refused:
        print(f"subgate: restore refused: {refused}", file=sys.stderr)  # noqa: T201 - CLI output
        return REFUSED
    except BackupUnreadable as unreadable:
        print(f"subgate: restore failed, nothing was restored: {unreadable}", file=sys.stderr)  # noqa: T201
        return UNREADABLE
    for line in _report(settings, restored):
        print(line)  # noqa: T201 - CLI output
    return 0


def _report(settings: Settings, restored: Restored) -> list[str]:
    manifest = restored.manifest
    lines = [
        f"restored the backup taken at {manifest.taken_at} into {restored.data_dir}: "
        f"{', '.join(restored.restored)} (database at {restored.database})"
    ]
    if missing := keys_missing(settings, restored):
        lines.append(
            f"before starting, set SUBGATE_SECRET_KEY to include the key(s) with id(s) {', '.join(missing)}: "
            "the stored secrets are sealed with them and the backup holds no key file for them"
        )
    state = SchemaState(manifest.schema_version if manifest.schema_version is not None else 0, STEPS)
    if state.pending:
        lines.append(
            f"then run `subgate migrate` (serve and worker refuse it until then): {state.describe()}"
        )
    return lines
