"""RocketMQ: the real C++ client (source.py, the only module importing it), and a local development broker."""
