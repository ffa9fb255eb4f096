"""Every file lxcprov keeps is read strictly: a wrong shape is one line naming the file and
the key, and the file is never overwritten by a command that could not read it."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lxcprov.errors import (
    AddressPoolError,
    ContainerBusyError,
    DiskFullError,
    InvalidNetSettingError,
    StateFileError,
)
from lxcprov.system import journal, locks, netintent, statefile
from lxcprov.system.hostnet import addresses, settings
from lxcprov.system.hostnet.settings import NetSettings, check_address

GOOD_NET = '[bridges.br9]\naddress = "10.9.0.1/24"\ndhcp = true\nnat = false\n'


def _net_toml(tmp_path: Path, text: str | bytes) -> Path:
    path = settings.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("\n  \n", "is empty"),
        (GOOD_NET.replace("nat = false", 'nat = "false"'), "nat must be true or false"),
        (GOOD_NET.replace("dhcp = true", "dhcp = 1"), "dhcp must be true or false"),
        (GOOD_NET.replace('address = "10.9.0.1/24"', "address = 10"), "address must be a string"),
        (GOOD_NET + "colour = 1\n", "unknown key 'colour' in bridges.br9"),
        ("bridges = 3\n", "[bridges] must be a table"),
        ('default = "br7"\n' + GOOD_NET, "names no bridge"),
        (b'[bridges.br9]\naddress = "\xff"\n', "not UTF-8"),
        ("[bridges.br9\n", "fix or remove"),
    ],
)
def test_net_toml_of_the_wrong_shape_stops_with_one_line(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    path = _net_toml(tmp_path, text)
    before = path.read_bytes()
    with pytest.raises(InvalidNetSettingError) as exc:
        settings.load_config()
    assert str(path) in exc.value.message
    assert message in exc.value.message + (exc.value.hint or "")
    with pytest.raises(InvalidNetSettingError):  # and nothing is saved over it
        settings.save(NetSettings("br8", check_address("10.8.0.1/24")))
    assert path.read_bytes() == before


def test_good_net_toml_loads(tmp_path: Path) -> None:
    _net_toml(tmp_path, GOOD_NET)
    config = settings.load_config()
    assert config.bridges["br9"].nat is False and config.bridges["br9"].dhcp is True


def _book_file(text: str) -> Path:
    _net_toml(Path("/"), GOOD_NET)
    path = settings.bridge_state_dir("br9") / "addresses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["c1@/x", "10.9.0.2"]', "must hold a JSON object"),
        ('{"c1@/x": 5}', "is not an IPv4 address"),
        ('{"c1@/x": "ten"}', "is not an IPv4 address"),
        ("{not json", "not valid JSON"),
    ],
)
def test_address_book_of_the_wrong_shape_is_never_rewritten(text: str, message: str) -> None:
    path = _book_file(text)
    for act in (
        lambda: addresses.allocate("br9", "c2@/x"),
        lambda: addresses.release("br9", "c1@/x"),
        lambda: addresses.book("br9"),
    ):
        with pytest.raises(AddressPoolError) as exc:
            act()
        assert message in exc.value.message and str(path) in exc.value.message
    assert path.read_text() == text, "the other reservations are not lost"


def test_address_book_keeps_every_entry() -> None:
    path = _book_file('{"c1@/x": "10.9.0.2"}')
    got = addresses.allocate("br9", "c2@/x")
    assert str(got.ip) == "10.9.0.3"
    assert json.loads(path.read_text()) == {"c1@/x": "10.9.0.2", "c2@/x": "10.9.0.3"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage = = 1", "lxcprov.toml"),
        ('[network]\nmode = "bridged"\nbridge = "br9"\n', "mode must be none, dhcp or static"),
        ('[network]\nmode = "static"\nbridge = "br9"\naddress = "x"\n', "is not ADDR/PREFIX"),
        ('[network]\nmode = "dhcp"\nbridge = ""\n', "bridge is empty"),
        ('[network]\nmode = "dhcp"\nbridge = 7\n', "must be a string"),
        ('[network]\nmode = "dhcp"\nbridge = "b"\nflavour = "x"\n', "unknown key"),
        ("[other]\n", "unknown key"),
    ],
)
def test_a_garbage_network_intent_is_an_error_not_dhcp(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "lxcprov.toml").write_text(text)
    with pytest.raises(StateFileError) as exc:
        netintent.load(tmp_path, {"lxc.net.0.type": "veth", "lxc.net.0.link": "br9"})
    assert message in exc.value.message


def test_intent_round_trips(tmp_path: Path) -> None:
    intent = netintent.NetIntent("static", "br9", "10.9.0.4/24", "10.9.0.1", "10.9.0.1", "o")
    netintent.save(tmp_path, intent)
    assert netintent.load(tmp_path, {}) == intent
    assert oct((tmp_path / "lxcprov.toml").stat().st_mode & 0o777) == "0o644"


def test_journal_round_trip_and_garbage(tmp_path: Path) -> None:
    with locks.container(tmp_path, "c1", "test"):
        jr = journal.Journal.begin(tmp_path, "c1", "new", creating=True)
        jr.claim("br9", "c1@/x")
        jr.update(pgid=123, pgid_start=4)
    entry = journal.read(tmp_path, "c1")
    assert entry is not None and entry.running, "this process wrote it"
    assert entry.claims == (journal.Claim("br9", "c1@/x"),) and entry.pgid == 123
    assert journal.names(tmp_path) == ["c1"]
    jr.end()
    assert journal.read(tmp_path, "c1") is None
    path = journal.path_for(tmp_path, "c2")
    path.write_text('name = "c2"\ncommand = "new"\n')
    with pytest.raises(StateFileError, match="missing"):
        journal.read(tmp_path, "c2")
    path.write_text("\x00\x01")
    with pytest.raises(StateFileError):
        journal.read(tmp_path, "c2")


def test_a_dead_process_is_not_a_reused_pid(tmp_path: Path) -> None:
    start = journal.process_start(os.getpid())
    assert start is not None
    assert journal.alive(os.getpid(), start)
    assert not journal.alive(os.getpid(), start + 1), "same pid, other start: another process"
    assert not journal.alive(2**22 + 5, start)


def test_a_full_disk_keeps_the_old_file_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.toml"
    statefile.write_text(target, "old\n")

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError) as exc:
        statefile.write_text(target, "new\n")
    assert str(target) in exc.value.message
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["state.toml"], "no temporary file left"


def test_state_files_larger_than_ours_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(statefile.MAX_STATE_BYTES + 10)
    with pytest.raises(StateFileError, match="larger than"):
        statefile.read_text(big)


def test_a_wait_for_anothers_lock_is_told_even_when_the_caller_names_no_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI tells waits once (locks.tell_waits): a restart or stop that waits for another
    command on the container says so, and for whom, instead of hanging silently."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
         "from lxcprov.system import locks\n"
         f"with locks.container(Path({str(tmp_path)!r}), 'c1', 'restart'):\n"
         "    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        told: list[str] = []
        monkeypatch.setattr(locks, "_told_of_waits", [told.append])
        with pytest.raises(ContainerBusyError), locks.container(tmp_path, "c1", "stop", wait=0.2):
            pass
        assert told == [f"waiting for lxcprov restart (pid {holder.pid}) to finish with c1"]
    finally:
        holder.kill()
        holder.wait()


def test_a_stop_is_named_after_its_command_let_go_and_only_when_it_came_after(
    tmp_path: Path,
) -> None:
    """A start that waits for a boot outside the lock asks who stopped the container after
    the stopper ended: the note names it, and a stop from before the start is not its."""
    before = time.time()
    with locks.container(tmp_path, "c1", "stop"):
        locks.note_stop(tmp_path, "c1")
    assert locks.stopped_since(tmp_path, "c1", before) == f"lxcprov stop (pid {os.getpid()})"
    assert locks.busy(tmp_path, "c1") is None  # the lock itself no longer says so
    assert locks.stopped_since(tmp_path, "c1", time.time() + 1) is None  # an older stop
    assert locks.stopped_since(tmp_path, "c2", before) is None  # never stopped
