"""The command a user meets: help that can be followed, one-line errors, and the demo end to end."""

import socket
import subprocess
import sys
import time

CLI = [sys.executable, "-m", "jushita_etl.cli"]


def run(*args, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, **kw)


def test_help_lists_every_command():
    out = run("--help").stdout
    for command in ("simulate", "land", "build", "demo", "consume", "publish", "broker", "users", "groups", "top-gateway"):
        assert command in out, command
    assert "development" in run("broker", "--help").stdout.lower()


def test_errors_are_one_line_without_traceback(tmp_path):
    result = run("build", "--data-dir", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = run("consume", "--data-dir", str(tmp_path), "--namesrv", "127.0.0.1:9", "--group", "g", "--topic", "t")
    assert result.returncode == 1 and "cannot reach" in result.stderr and "Traceback" not in result.stderr
    result = run("users", "get", "x", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "JUSHITA_APP_KEY" in result.stderr


def test_demo_end_to_end(tmp_path):
    result = run("demo", "--data-dir", str(tmp_path / "data"), "--orders", "150", timeout=600,
                 env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "reconciliation holds" in out and "GMV by day" in out and "local broker stopped" in out
    assert "Median hours from payment to signature" in out
    assert (tmp_path / "data" / "lake" / "catalog.sqlite").exists()
    import jushita_etl

    conn = jushita_etl.connect(tmp_path / "data")  # the build the demo published, as analysts open it
    try:
        assert conn.execute("SELECT count(*) FROM fact_orders").fetchone()[0] > 0
    finally:
        conn.close()


def test_a_server_outlives_the_sigpipe_of_a_peer_that_vanished():
    """A write to a connection whose peer was killed raises SIGPIPE; a server must take it as that connection's
    error, not die of it (the dev broker did, when a consumer it was answering was killed)."""
    import signal

    from mq_support import BrokerProcess

    broker = BrokerProcess()
    try:
        broker.proc.send_signal(signal.SIGPIPE)
        time.sleep(0.5)
        assert broker.proc.poll() is None, "the broker died of SIGPIPE"
        socket.create_connection(("127.0.0.1", broker.port), timeout=5).close()
    finally:
        broker.stop()


def test_output_into_a_reader_that_stopped_early_ends_quietly(tmp_path):
    """`jushita-etl simulate ... | head -1`: the reader goes away; the command ends without a traceback."""
    head = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run([*CLI, "simulate", "--orders", "30000", "--out", "-"], stdout=head.stdin,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    head.stdin.close()
    head.wait()
    assert writer.stderr == ""
    assert writer.returncode == 141


def test_servers_stop_on_sigterm_even_when_the_parent_ignores_it():
    """A parent that ignores SIGTERM (Dagster leaves it so after a run in a process started in the background)
    passes that on to its children; the dev servers still stop when terminated."""
    import os
    import signal

    env = {**os.environ, "JUSHITA_APP_KEY": "k", "JUSHITA_APP_SECRET": "s"}
    gateway = subprocess.Popen([*CLI, "top-gateway", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        assert "listening" in gateway.stdout.readline()
        gateway.terminate()
        assert gateway.wait(timeout=20) == -signal.SIGTERM
    finally:
        gateway.kill()
        gateway.wait()
