"""The one-writer lock (workbench/locks.py): one holder at a time across threads and processes, a
clear message naming the holder, waiting, heartbeats and recovery of a dead holder's lock."""
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from workbench import locks
from workbench.db import engine_for
from workbench.locks import RunInProgress, current_holder, run_lock
from workbench.models import RunLock, utcnow


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'locks.db'}"
    engine_for(url)
    return url


def plant(url, name, pid, host=None, heartbeat_age=timedelta(0)):
    """A lock row as a holder that crashed would leave it."""
    with engine_for(url).begin() as conn:
        conn.execute(insert(RunLock).values(name=name, token="dead-holder", pid=pid, host=host or socket.gethostname(),
                                            purpose="push", acquired_at=utcnow() - heartbeat_age,
                                            heartbeat_at=utcnow() - heartbeat_age))


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_second_holder_is_refused_with_the_first_ones_pid_and_start(db_url):
    with run_lock(db_url, "push:x", "push"):
        with pytest.raises(RunInProgress) as refused:
            with run_lock(db_url, "push:x", "push"):
                pass
    message = refused.value.message
    assert message.startswith("another push is running since ")
    assert f"pid {__import__('os').getpid()} on {socket.gethostname()}" in message
    assert refused.value.status == 409 and refused.value.errors["lock"] == "push:x"
    assert current_holder(db_url, "push:x") is None  # released at the end of the block


def test_other_names_do_not_block_each_other(db_url):
    with run_lock(db_url, "push:a", "push"), run_lock(db_url, "push:b", "push"), run_lock(db_url, "pull:a", "pull"):
        assert current_holder(db_url, "push:a")["purpose"] == "push"


def test_a_waiting_holder_gets_the_lock_when_the_first_one_ends(db_url):
    inside = threading.Event()
    order = []

    def first():
        with run_lock(db_url, "pull:x", "pull"):
            inside.set()
            time.sleep(0.6)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with run_lock(db_url, "pull:x", "pull", wait=10):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_the_lock_is_released_when_the_block_raises(db_url):
    with pytest.raises(ZeroDivisionError):
        with run_lock(db_url, "push:x", "push"):
            1 / 0
    with run_lock(db_url, "push:x", "push") as acquired:
        assert acquired.recovered_from is None


def test_a_dead_process_lock_on_this_host_is_taken_over(db_url):
    pid = dead_pid()
    plant(db_url, "push:x", pid)
    with run_lock(db_url, "push:x", "push") as acquired:
        assert acquired.recovered_from["pid"] == pid
        assert current_holder(db_url, "push:x")["token"] != "dead-holder"


def test_a_live_process_lock_elsewhere_holds_until_its_heartbeat_is_stale(db_url):
    plant(db_url, "push:x", 1, host="another-machine")
    with pytest.raises(RunInProgress, match="pid 1 on another-machine"):
        with run_lock(db_url, "push:x", "push"):
            pass
    with engine_for(db_url).begin() as conn:
        conn.execute(update(RunLock).values(heartbeat_at=utcnow() - locks.STALE_AFTER - timedelta(seconds=1)))
    with run_lock(db_url, "push:x", "push") as acquired:
        assert acquired.recovered_from["host"] == "another-machine"


def test_the_holder_keeps_its_heartbeat_fresh(db_url, monkeypatch):
    monkeypatch.setattr(locks, "HEARTBEAT_SECONDS", 0.1)
    with run_lock(db_url, "pull:x", "pull"):
        first = current_holder(db_url, "pull:x")["heartbeat_at"]
        time.sleep(0.5)
        later = current_holder(db_url, "pull:x")["heartbeat_at"]
    assert later > first


def test_a_zombie_holds_nothing():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not reaped yet
    try:
        assert not locks.pid_alive(process.pid)
    finally:
        process.wait()
    assert locks.pid_alive(__import__("os").getpid())


def _contend(url, start, results):
    start.wait()
    try:
        with run_lock(url, "push:race", "push"):
            results.put("won")
            time.sleep(1.5)
    except RunInProgress:
        results.put("refused")


def contend_from_processes(url, count=4):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_contend, args=(url, start, results)) for _ in range(count)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)  # every process imported and waiting
    start.set()
    for worker in workers:
        worker.join(60)
    return sorted(results.get(timeout=5) for _ in workers)


def test_processes_racing_for_a_lock_get_exactly_one_winner(db_url):
    assert contend_from_processes(db_url) == ["refused", "refused", "refused", "won"]


def test_two_recoverers_of_one_stale_lock_do_not_both_win(db_url):
    plant(db_url, "push:race", dead_pid())
    assert contend_from_processes(db_url, 3) == ["refused", "refused", "won"]


def test_on_postgresql_processes_racing_get_one_winner_and_a_dead_holder_is_recovered(pg_database_url):
    engine_for(pg_database_url)
    assert contend_from_processes(pg_database_url) == ["refused", "refused", "refused", "won"]
    pid = dead_pid()
    plant(pg_database_url, "push:x", pid)
    with run_lock(pg_database_url, "push:x", "push") as acquired:
        assert acquired.recovered_from["pid"] == pid
        with pytest.raises(RunInProgress, match="another push is running since"):
            with run_lock(pg_database_url, "push:x", "push"):
                pass


def test_a_second_preannotate_run_is_refused_while_one_runs(settings, sample_corpus):
    from workbench import workflow
    workflow.ingest_paths(settings, [sample_corpus])
    with run_lock(settings.database_url, locks.lock_name("preannotate"), "pre-annotation run"):
        with pytest.raises(RunInProgress, match="another pre-annotation run is running since"):
            workflow.preannotate(settings)
    assert len(workflow.preannotate(settings).annotated) == 5
