"""Which containers a command's words name, and doing one thing to each of them.

`start`, `stop`, `restart`, `destroy`, `set` and `snapshot` take several names and `ls`'s
shell patterns. Each container is done on its own and reported on its own: one failure
does not stop the others and is never silent (the command ends non-zero, naming it).
A pattern that matches nothing is a typo, refused before anything is done; a plain name
is passed on as it is, so the command itself says what is wrong with it (`destroy
--force` removes a half-made container that has no config and matches no pattern).

Loads only liblxc: `stop` (halt.py) stays as light as it is.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from lxcprov.errors import InvalidArgumentError, LxcprovError
from lxcprov.system import faults, lxc

T = TypeVar("T")

# Between two containers of one command (LXCPROV_FAULT_AT, tests only).
FAULT_NEXT = "next-container"


def is_pattern(word: str) -> bool:
    return any(ch in word for ch in "*?[")


def resolve(lxcpath: Path, words: Iterable[str]) -> list[lxc.Container]:
    """The containers words name, in the order given, each once (bases left out of
    patterns, as in `ls`)."""
    found: list[lxc.Container] = []
    every: list[str] | None = None
    for word in words:
        if is_pattern(word):
            if every is None:
                every = [c.name for c in lxc.list_containers(lxcpath)]
            matched = [n for n in every if fnmatch.fnmatchcase(n, word)]
            if not matched:
                raise InvalidArgumentError(
                    f"no container matches {word!r} in {lxcpath}",
                    hint="list them with: lxcprov ls",
                )
            names = matched
        else:
            lxc.check_name(word)
            names = [word]
        for name in names:
            if all(c.name != name for c in found):
                found.append(lxc.Container(name, lxcpath))
    if not found:
        raise InvalidArgumentError("no container named", hint="give NAME... or a pattern")
    return found


def refuse_base(container: lxc.Container, command: str) -> None:
    """A cached base is the lower layer of its clones' files (and its own files their
    shift's source): a command that starts it or changes its config or files would change
    every clone under it. Only `bases` and `destroy` act on one."""
    if container.name.startswith(lxc.BASE_PREFIX):
        raise InvalidArgumentError(
            f"{container.name} is a cached base: {command} would change what its clones stand on",
            hint="change a container made from it instead; lxcprov bases lists the bases",
        )


def several(words: list[str]) -> bool:
    """Whether the words ask for a list (several names or a pattern): --json is then a
    list of results, one per container; a single plain name keeps its own shape."""
    return len(words) != 1 or is_pattern(words[0])


@dataclass(frozen=True)
class Done(Generic[T]):
    """What one container's part of the command gave: its result, or its error."""

    name: str
    result: T | None = None
    error: LxcprovError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def each(
    containers: list[lxc.Container],
    work: Callable[[lxc.Container], T],
    *,
    at_once: int = 1,
    on_done: Callable[[Done[T]], None] = lambda _done: None,
) -> list[Done[T]]:
    """work on every container (at_once of them at a time), begun in the order given; an
    error is that container's, and the others go on. Ctrl-C stops the whole command (what
    has begun ends, what has not is not begun). on_done is called as each one ends (in
    the calling thread, in the order they end), so a long command says each result as it
    comes; the list returned is in the order given."""

    def one(c: lxc.Container) -> Done[T]:
        try:
            return Done(c.name, result=work(c))
        except LxcprovError as exc:
            return Done(c.name, error=exc)

    if at_once > 1 and len(containers) > 1:
        return _at_once(containers, one, min(at_once, len(containers)), on_done)
    results: list[Done[T]] = []
    for index, c in enumerate(containers):
        if index:
            faults.stop_if(FAULT_NEXT)
        done = one(c)
        results.append(done)
        on_done(done)
    return results


def _at_once(
    containers: list[lxc.Container],
    one: Callable[[lxc.Container], Done[T]],
    workers: int,
    on_done: Callable[[Done[T]], None],
) -> list[Done[T]]:
    pool = ThreadPoolExecutor(max_workers=workers)
    by_name: dict[str, Done[T]] = {}
    try:
        futures = [pool.submit(one, c) for c in containers]
        for future in as_completed(futures):
            if by_name:  # one has ended and the others go on (a kill lands mid-way)
                faults.stop_if(FAULT_NEXT)
            done = future.result()
            by_name[done.name] = done
            on_done(done)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [by_name[c.name] for c in containers]
