"""Storage shared by both backends: a small document-session port and the repositories on it.

The repositories (domain ports) are written once against `DocumentSession`; the
SQLite and MongoDB adapters each implement that session. One contract suite
checks both.
"""
