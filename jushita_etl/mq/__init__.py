"""RocketMQ: the real C++ client (source.py, the only module importing it), and a local development broker."""

# Each consume thread holds one message until an fsync covers it, so the rate is about threads / sync time; with the
# native landing callback a blocked thread costs nothing. Three `make bench` runs on a 40k backlog: 8 threads
# 4.3-4.4k/s, 32 6-26k/s, 128 27-30k/s, 256 23-28k/s.
DEFAULT_THREADS = 128
