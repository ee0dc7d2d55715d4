"""A deterministic simulator of the Jushita message-sync feed, written in the replay NDJSON format."""
