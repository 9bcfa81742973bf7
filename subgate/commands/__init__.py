"""The work behind each `subgate` command; `subgate.cli` imports a module only when its command runs."""
