"""The writer's connection (jushita_etl.warehouse.db.writer): one writer at a time under a file lock, and the
hand-over of an open writer from one block of a process to the next (a build's ingest to its run's first step)."""

import pytest

from jushita_etl.settings import paths
from jushita_etl.warehouse import db


def test_a_writer_opens_on_a_data_dir_with_nothing_landed_yet(tmp_path):
    """A writer (a build, the sync_users refresh) may open before the consumer landed its first batch."""
    p = paths(tmp_path / "data")
    with db.writer(p) as conn:
        assert conn.execute("SELECT count(*) FROM etl.ingested_batches").fetchone()[0] == 0


def _lock_is_free(p) -> bool:
    """Whether another open of the lock file (as another process would) can take the writer lock now."""
    import fcntl

    with open(p.build_dir / "writer.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


def test_a_writer_handed_over_is_taken_by_the_next_writer_of_the_process(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    p = paths(tmp_path / "data")
    with db.writer(p, hand_over=True) as conn:
        conn.execute("CREATE TEMP TABLE only_on_this_connection (x INTEGER)")
    assert not _lock_is_free(p)  # still held, for the next writer

    with ThreadPoolExecutor(1) as pool:  # another thread, as a run's step: same connection, no reopening
        def next_writer():
            with db.writer(p, timeout=1) as taken:
                return taken.execute("SELECT count(*) FROM only_on_this_connection").fetchone()[0]
        assert pool.submit(next_writer).result() == 0
    assert _lock_is_free(p)  # that block did not hand it over: closed, lock released

    with db.writer(p, hand_over=True):
        pass
    db.release_handed_over(p)  # nobody took it
    assert _lock_is_free(p)

    with pytest.raises(RuntimeError), db.writer(p, hand_over=True):
        raise RuntimeError("a failed block hands nothing over")
    assert _lock_is_free(p)


def test_a_writer_waiting_for_the_lock_takes_one_handed_over_meanwhile(tmp_path):
    import threading

    p = paths(tmp_path / "data")
    holding, waiting = threading.Event(), threading.Event()

    def ingest():  # holds the writer until the other thread waits for it, then hands it over
        with db.writer(p, hand_over=True) as conn:
            conn.execute("CREATE TEMP TABLE made_by_the_ingest (x INTEGER)")
            holding.set()
            waiting.wait(5)

    thread = threading.Thread(target=ingest)
    thread.start()
    holding.wait(5)
    threading.Timer(0.2, waiting.set).start()
    with db.writer(p, timeout=5) as conn:  # waits for the lock, then finds the handed-over writer
        assert conn.execute("SELECT count(*) FROM made_by_the_ingest").fetchone()[0] == 0
    thread.join()
    assert _lock_is_free(p)
