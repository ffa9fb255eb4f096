"""A NewRequest travels to the children of `new --count` as data, never as flags: the
object itself in a fork, its JSON on stdin in a fresh interpreter; either way the child
makes exactly the request it was given."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from lxcprov.cli import newrun
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops import batch
from lxcprov.ops import new as ops_new
from lxcprov.ops.access import Access
from lxcprov.ops.request import NewRequest


def _request(lxcpath: Path, name: str) -> NewRequest:
    """A request with every field away from its default."""
    return NewRequest(
        name=name, template="debian", lxcpath=lxcpath, release="trixie",
        template_args=["--packages=sysvinit-core"], network="bridge", bridge="br9", ip="auto",
        access=Access(Path("/pw"), [Path("/k1.pub"), Path("/k2.pub")]), only=["hostname"],
        skip=["securetty"], start=False, dry_run=False, keep_on_failure=True, boot_timeout=12.5,
        use_base=False, privileged=False, isolated=True, force=True,
        settings={"memory": "512M", "cpu-weight": "200"}, mounts=["/srv/www:/var/www:ro"],
        publish=["8080:80"], mac="02:00:00:00:00:01",
    )  # fmt: skip


def test_json_round_trips_every_field(tmp_path: Path) -> None:
    req = _request(tmp_path, "c1")
    assert NewRequest.from_json(req.to_json()) == req
    plain = NewRequest("c2", "busybox", tmp_path)
    assert NewRequest.from_json(plain.to_json()) == plain


# A fresh interpreter as batch starts one, running the real `new-worker` command with
# only the making of the container replaced: it prints the request it got.
FRESH = """
import json, sys
from lxcprov.cli import newrun, program
newrun.new_one = lambda req, **how: print(json.dumps({"request": req.to_json(), "how": how}))
sys.argv = ["lxcprov", *sys.argv[1:]]
program.run()
"""


@pytest.mark.parametrize("thread", [False, True], ids=["forked", "fresh interpreter"])
def test_a_request_reaches_the_batch_child_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    reqs = [_request(tmp_path, f"c{i}") for i in (1, 2)]
    pids: list[int] = []

    def made(req: NewRequest, **how: Any) -> None:  # in the forked child
        print(json.dumps({"request": req.to_json(), "how": how}))

    monkeypatch.setattr(newrun, "new_one", made)
    argv = newrun.worker_argv(tmp_path)
    assert argv[-1] == newrun.WORKER and not [w for w in argv[-1:] if w.startswith("-")]
    fresh = [sys.executable, "-c", FRESH, *argv[len(batch.PYTHON_M) :]]
    child = batch.Child(run=newrun._child, argv=fresh)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    if thread:  # another thread alive: no fork, a fresh interpreter per child
        helper.start()
    try:
        items = batch.new_many(reqs, lambda _items: None, child=child)
    finally:
        stop.set()
        if thread:
            helper.join()
    for req, item in zip(reqs, items, strict=True):
        assert item.state == "done", item.stderr
        assert NewRequest.from_json(item.result["request"]) == req
        assert item.result["how"] == {"dry_run": False, "json_out": True, "timings": False}
        pids.append(item.returncode or 0)
    assert pids == [0, 0]


_GOOD = {"name": "w1", "template": "busybox", "lxcpath": "/var/tmp/x"}


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        ("x", "it is not JSON"),
        ("[1]", "it is not a JSON object"),
        ("{}", "no lxcpath, name, template"),
        (json.dumps({**_GOOD, "bogus": 1}), "unknown field bogus"),
        (json.dumps({**_GOOD, "name": 5}), "name is not a string: 5"),
        (json.dumps({**_GOOD, "start": "no"}), 'start is not true or false: "no"'),
        (json.dumps({**_GOOD, "mounts": "/tmp:/mnt"}), "mounts is not a list of strings"),
        (json.dumps({**_GOOD, "boot_timeout": "abc"}), "boot_timeout is not a number"),
        (json.dumps({**_GOOD, "boot_timeout": True}), "boot_timeout is not a number"),
        (json.dumps({**_GOOD, "settings": {"memory": 5}}), "settings is not an object of"),
        (json.dumps({**_GOOD, "lxcpath": "rel/dir"}), "lxcpath 'rel/dir' is not an absolute"),
        (json.dumps({**_GOOD, "access": {"password_file": 1}}), "access is not {password_file"),
    ],
)
def test_a_worker_request_is_checked_as_strictly_as_the_cli(doc: str, said: str) -> None:
    """A batch child's stdin (the hidden new-worker, which root can also run by hand): a
    wrong field is one line, never a traceback or a silently different request."""
    with pytest.raises(InvalidArgumentError) as caught:
        NewRequest.from_json(doc)
    assert said in caught.value.message


def test_a_mac_that_is_not_one_is_refused_before_it_reaches_the_config(tmp_path: Path) -> None:
    """`mac` becomes lxc.net.0.hwaddr: a newline in it would be a config line of its own."""
    req = NewRequest("w1", "busybox", tmp_path, network="none", dry_run=True)
    for bad in ("00:16:3e:00:00:01\nlxc.mount.entry = / x none bind 0 0", "00:16:3e:00:00", ""):
        req.mac = bad
        with pytest.raises(InvalidArgumentError, match="is not a MAC address"):
            ops_new.new(req)


@pytest.mark.parametrize("seconds", [-5.0, -0.001, float("nan"), float("inf")])
def test_a_boot_timeout_that_is_no_wait_is_refused(tmp_path: Path, seconds: float) -> None:
    req = NewRequest("w1", "busybox", tmp_path, network="none", dry_run=True)
    req.boot_timeout = seconds
    with pytest.raises(InvalidArgumentError, match=r"is not a number of seconds \(0 or more\)"):
        ops_new.new(req)
