"""Subcommands beyond simulate/land: build, demo, consume, broker, publish, users, groups, top-gateway."""
