"""RocketMQ: the real C++ client (source.py, the only module importing it), and a local development broker."""

# Each consume thread holds one message until an fsync covers it, so the rate is about threads / sync time; with the
# native landing callback a blocked thread costs nothing. Measured on a backlog: 8 threads 4.3k/s, 64 9.9k/s,
# 128 19.5k/s, 256 21k/s.
DEFAULT_THREADS = 128
