"""One command on several containers: each result said as it comes, failures named at the end.

A single plain NAME behaves exactly as the one-container command always did (its errors
and exit codes, its --json object); several names or a pattern give a line per container,
a --json list with one entry each, and a non-zero exit when any of them failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from lxcprov.cli import lazy
from lxcprov.cli.common import emit_json, err, options, shown
from lxcprov.errors import PartlyFailedError, plural

if TYPE_CHECKING:
    from lxcprov.ops import targets
    from lxcprov.system import lxc
else:
    targets = lazy.module("lxcprov.ops.targets")

T = TypeVar("T")


def several(words: list[str]) -> bool:
    """Whether words ask for a list (several names, or a pattern)."""
    return bool(targets.several(words))


def for_each(
    words: list[str],
    work: Callable[[lxc.Container], T],
    say: Callable[[str, T], None],
    as_json: Callable[[str, T], dict[str, object]],
    *,
    verb: str,
    json_out: bool,
    at_once: int = 1,
    single_json: Callable[[T], object] | None = None,
    before: Callable[[], None] = lambda: None,
) -> None:
    """work on the containers words name; say (and as_json) each result. single_json:
    the --json of one plain NAME, when it is not as_json's (what it always was). before:
    what to say once the words are found good, before the first container's work."""
    containers = targets.resolve(options.path(), words)
    before()
    if not several(words):
        result = work(containers[0])
        if json_out:
            name = containers[0].name
            emit_json(single_json(result) if single_json else as_json(name, result))
        say(containers[0].name, result)
        return

    def done(d: targets.Done[T]) -> None:
        if d.error is None:
            say(d.name, d.result)  # type: ignore[arg-type]
            return
        for line in d.error.details:
            err.print(f"  {shown(line)}")
        err.print(f"[bold red]{shown(d.name)}: {verb} failed:[/] {shown(d.error.message)}")
        if d.error.hint:
            err.print(f"  [dim]hint:[/] {shown(d.error.hint)}")

    results = targets.each(containers, work, at_once=at_once, on_done=done)
    if json_out:
        emit_json([
            {"name": d.name, "ok": True, **as_json(d.name, d.result)} if d.error is None  # type: ignore[arg-type]
            else {"name": d.name, "ok": False, "error": d.error.message, "hint": d.error.hint}
            for d in results
        ])  # fmt: skip
    failed = [d.name for d in results if not d.ok]
    if failed:
        raise PartlyFailedError(
            f"{verb}: {len(failed)} of {plural(len(results), 'container')} failed: "
            + ", ".join(failed),
            hint=("the others are done; " if len(failed) < len(results) else "")
            + "each one's error is above",
        )
