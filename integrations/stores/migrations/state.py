"""What schema a store holds against what this release knows (standard library and our own
light modules only: the command line reads it before loading the server)."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.stores.migrations.step import Step


@dataclass(frozen=True, slots=True)
class SchemaState:
    """What a store holds, against what this release's code knows."""

    version: int | None  # None: empty, never migrated
    steps: tuple[Step, ...]

    @property
    def latest(self) -> int:
        return self.steps[-1].number if self.steps else 0

    @property
    def empty(self) -> bool:
        return self.version is None

    @property
    def current(self) -> bool:
        return self.version == self.latest

    @property
    def newer(self) -> bool:
        return self.version is not None and self.version > self.latest

    @property
    def pending(self) -> tuple[Step, ...]:
        if self.version is None:
            return ()
        return tuple(step for step in self.steps if step.number > self.version)

    def describe(self) -> str:
        if self.empty:
            return (
                f"the store is empty (no schema yet); `subgate migrate` creates schema version {self.latest} "
                "(dev, serve and worker also create it on an empty store)"
            )
        if self.current:
            return f"the store's schema is current (version {self.latest})"
        if self.newer:
            return (
                f"the store's schema (version {self.version}) is newer than this release knows "
                f"({self.latest}): run a release at least as new as the one that migrated it"
            )
        pending = ", ".join(step.title for step in self.pending)
        return (
            f"the store's schema is at version {self.version} and this release needs {self.latest}: "
            f"run `subgate migrate` (pending steps: {pending})"
        )


class SchemaMismatch(Exception):
    """The store's schema is not one this process may run on (see `SchemaState.describe`)."""

    def __init__(self, state: SchemaState) -> None:
        super().__init__(state.describe())
        self.state = state
