"""The raw landing zone: every delivery, durable as Parquet micro-batches, before anything acknowledges it."""
