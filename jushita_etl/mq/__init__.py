"""RocketMQ: the real C++ client (source.py, the only module importing it), and a local development broker."""

# With the native callback a consume thread appends a whole pulled batch (up to 32 messages) and waits for one fsync
# (landing_callback.jwal_batch_acks), so a few threads keep the log busy; more only add hand-offs. `make bench` on a
# 40k backlog, 2026-11-30: 8 threads 49.6k/s, 32 47.3k/s, 128 39.8k/s, 256 38.9k/s; publish->landed with one
# producer, alternating runs: 8 threads 19.0-21.2k/s, 128 threads 17.1-17.5k/s.
DEFAULT_THREADS = 8
