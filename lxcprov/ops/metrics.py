"""`metrics`: what each container uses, for Prometheus (engine/metrics.py says the series).

One sample of the containers (ops/stats.py's Sampler; no CPU%: Prometheus computes rates
from the counters), rendered once: printed, written for node_exporter's textfile
collector (system/textfile.py), or answered to each scrape of `--listen`
(system/metricshttp.py), where one sampler lives as long as the process, so a container's
disk is walked again only every 30 s (ops/stats.py's DISK_EVERY), not at every scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lxcprov.engine import metrics as model
from lxcprov.engine.listen import Listen
from lxcprov.errors import LxcprovError
from lxcprov.ops.stats import Sampler, names_of
from lxcprov.system import metricshttp, textfile


def _render(sampler: Sampler, names: Iterable[str]) -> str:
    began = time.monotonic()
    sample = sampler.sample(names)
    duration = time.monotonic() - began
    return model.exposition(sample, clock_offset=time.time() - time.monotonic(), duration=duration)


def exposition(lxcpath: Path, words: Iterable[str] = ()) -> str:
    """The exposition of the containers words name (every one when none): one sample, the
    disk walked once. A plain name that is no container is refused (names_of)."""
    names = names_of(lxcpath, words)
    return _render(Sampler(lxcpath, disk_every=float("inf")), names)


def write_textfile(lxcpath: Path, words: Iterable[str], path: Path) -> None:
    """The exposition, atomically replacing path (node_exporter's textfile collector)."""
    textfile.replace(path, exposition(lxcpath, words))


def listen(
    lxcpath: Path, words: Iterable[str], where: Listen, on_ready: Callable[[str], None]
) -> None:
    """Answer each GET /metrics with a fresh sample until interrupted; on_ready(url) once
    the port is bound (the URL has the port the kernel chose for port 0). The words are
    checked now (a typo fails at once) and looked for again at each scrape: a new
    container appears, a destroyed one goes."""
    words = list(words)
    names_of(lxcpath, words)
    sampler = Sampler(lxcpath)
    turn = threading.Lock()  # one scrape samples at a time: the sampler is one object

    def render() -> bytes:
        with turn:
            try:
                names = names_of(lxcpath, words)
            except LxcprovError:
                names = []  # a named container destroyed meanwhile: no series of it
            try:
                return _render(sampler, names).encode()
            except LxcprovError as exc:
                raise metricshttp.Unavailable(exc.message) from None

    server = metricshttp.bind(where.host, where.port, render, model.CONTENT_TYPE)
    url = where.url(server.server_address[1])
    metricshttp.serve(server, lambda: on_ready(url))
