"""RocketMQ: the real C++ client (source.py, the only module importing it), and a local development broker."""

# Each consume thread holds one message until an fsync covers it, so the rate is about threads / sync time; with the
# native landing callback a blocked thread costs nothing. `make bench` on a 40k backlog: 8 threads 4.3k/s,
# 32 26k/s, 128 30k/s, 256 23k/s (runs vary by ±30% on this machine).
DEFAULT_THREADS = 128
