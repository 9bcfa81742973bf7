"""The embedded Redis: a private `redis-server` per data directory, its password, and the
processes that run it, shared by every `subgate` process on the directory."""
