"""The pure core: models, state machine, commands, events, errors and ports.

Nothing here performs I/O or imports anything outside the standard library.
Each sub-package is a bounded context that owns its repositories; contexts talk
through services and the shared outbox, never through each other's repositories.
"""
