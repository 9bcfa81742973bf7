# A regular package, so that `tests.support` and `tests.unit...` are always this directory:
# a dev dependency (paddle-python-sdk) installs a top-level `tests` package of its own into
# site-packages, which would otherwise win over a directory without this file.
