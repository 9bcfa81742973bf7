"""The stores: a small document-session port, the repositories on it, and its backends.

The repositories (domain ports) are written once against `DocumentSession`; the SQLite
(`sqlite`) and MongoDB (`mongo`) backends each implement that session, and `sealing` wraps
either so that secrets are sealed at rest. One contract suite checks both backends.
"""
