"""Where pre-annotation runs: in this process, or on a Dask cluster (`preannotate --workers N`).

A runner takes the pre-annotator and an iterator of texts and yields one Prediction per text,
in order, so the caller stores results exactly as a single process would. On Dask the
pre-annotator is pickled once and broadcast to every worker (no shared filesystem needed: a
model bundle travels with it); texts go out in batches, a bounded window of them in flight, so
memory stays flat however long the run. The cluster is a LocalCluster of worker processes (one
thread each) unless a scheduler address is given (--scheduler or WORKBENCH_DASK_SCHEDULER): then
the existing cluster's workers do the work, which is how a team grows past one machine. Workers
need the workbench package importable (the same version as the caller's)."""
from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from typing import Iterable, Iterator

from .errors import ConfigError
from .preannotation.base import BATCH_SIZE, Prediction, annotate_all

IN_FLIGHT_PER_WORKER = 4
CONNECT_TIMEOUT_S = 20


def local_runner(annotator, texts: Iterable[str], batch_size: int = BATCH_SIZE) -> Iterator[Prediction]:
    for _, prediction in annotate_all(annotator, texts, batch_size=batch_size):
        yield prediction


def annotate_batch(annotator, texts: list[str]) -> list[Prediction]:
    """What a Dask worker runs: one batch through the broadcast pre-annotator."""
    return [prediction for _, prediction in annotate_all(annotator, texts, batch_size=len(texts) or 1)]


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None):
    """A distributed.Client on the given scheduler, or on a LocalCluster of `workers` processes
    (every core when None), closed (with its cluster) on exit."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}",
                              errors={"dask_scheduler": scheduler}) from exc
        with client:
            yield client
        return
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def dask_runner(client, annotator, texts: Iterable[str], batch_size: int = BATCH_SIZE) -> Iterator[Prediction]:
    """Predictions in input order from the client's workers; at most IN_FLIGHT_PER_WORKER batches
    per worker are queued at a time."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    remote = client.scatter(annotator, broadcast=True, hash=False)
    window: deque = deque()
    for batch in _batches(texts, batch_size):
        window.append(client.submit(annotate_batch, remote, batch, pure=False))
        if len(window) >= workers * IN_FLIGHT_PER_WORKER:
            yield from window.popleft().result()
    while window:
        yield from window.popleft().result()
