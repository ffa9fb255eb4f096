"""The pure parts of disk limits: sizes, the plan from one limit to another (grow, shrink,
refuse), how show and ls say it, and doctor's judgement of a container's images."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from lxcprov.engine import disklimit, settings_table
from lxcprov.engine.disklimit import MiB, plan
from lxcprov.errors import InvalidArgumentError
from lxcprov.ops.doctor import checks
from lxcprov.system import diskimage, journal
from tests.unit.doctor.fixtures import HEALTHY_HOST, healthy, ids, only


@pytest.mark.parametrize(
    ("raw", "size"),
    [("64M", 64 * MiB), ("1G", 1024 * MiB), ("1.5G", 1536 * MiB), ("100MiB", 100 * MiB),
     ("33554433", 33 * MiB), ("none", None), ("NONE", None)],
)  # fmt: skip
def test_sizes_are_whole_mib_rounded_up(raw: str, size: int | None) -> None:
    assert disklimit.parse(raw) == size


@pytest.mark.parametrize("raw", ["16M", "0", "1K", "64X", "-1G", "1e9"])
def test_sizes_below_the_minimum_or_not_sizes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        disklimit.parse(raw)
    assert exc.value.message.startswith(f"disk={raw}")
    assert exc.value.hint


def test_set_validates_disk_before_it_changes_anything() -> None:
    settings_table.check({"disk": "10G"})
    with pytest.raises(InvalidArgumentError):
        settings_table.check({"disk": "8M"})


def _plan(current: int | None, used: int, wanted: int | None, *, running: bool = False,
          online: bool = False) -> disklimit.Plan:  # fmt: skip
    return plan(current, used, wanted, running=running, online_grow=online)


@pytest.mark.parametrize(
    ("current", "wanted", "running", "online", "step"),
    [
        (None, 64 * MiB, False, False, "create"),
        (64 * MiB, 64 * MiB, True, False, "none"),
        (None, None, True, False, "none"),
        (64 * MiB, 256 * MiB, False, False, "grow"),
        (64 * MiB, 256 * MiB, True, True, "grow-live"),
        (64 * MiB, 256 * MiB, True, False, "grow-at-start"),
        (256 * MiB, 64 * MiB, False, False, "shrink"),
    ],
)
def test_the_step_from_one_limit_to_another(
    current: int | None, wanted: int | None, running: bool, online: bool, step: str
) -> None:
    got = _plan(current, 10 * MiB, wanted, running=running, online=online)
    assert got.step == step
    assert got.size == (wanted or 0)


def test_a_raise_this_host_cannot_make_live_says_why_and_waits_for_a_start() -> None:
    got = _plan(64 * MiB, 0, 128 * MiB, running=True, online=False)
    assert "next start" in got.why and "CAP_SYS_RESOURCE" in got.why


@pytest.mark.parametrize(
    ("current", "used", "wanted", "running", "said"),
    [
        (64 * MiB, 0, None, False, "does not remove a disk limit"),
        (None, 0, 64 * MiB, True, "added only to a stopped container"),
        (256 * MiB, 0, 64 * MiB, True, "lowered only while the container is stopped"),
        (256 * MiB, 60 * MiB, 64 * MiB, False, "in use"),
    ],
)
def test_what_is_refused_is_refused_with_a_hint(
    current: int | None, used: int, wanted: int | None, running: bool, said: str
) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        _plan(current, used, wanted, running=running)
    assert said in exc.value.message
    assert exc.value.hint


def test_a_shrink_keeps_room_beside_what_is_used() -> None:
    used = 40 * MiB
    with pytest.raises(InvalidArgumentError) as exc:
        _plan(256 * MiB, used, used + disklimit.SHRINK_MARGIN - MiB)
    assert "56M" in exc.value.hint
    assert _plan(256 * MiB, used, used + disklimit.SHRINK_MARGIN).step == "shrink"


@pytest.mark.parametrize(
    ("limit", "used", "shown"),
    [(None, None, "none"), (64 * MiB, None, "64M (not mounted)"),
     (64 * MiB, 12 * MiB, "64M (12M used)"), (10 * 1024 * MiB, 1536 * MiB, "10G (1.5G used)"),
     (64 * MiB, 300 * 1024, "64M (300K used)")],
)  # fmt: skip
def test_how_show_and_ls_say_it(limit: int | None, used: int | None, shown: str) -> None:
    assert disklimit.describe(limit, used) == shown


def test_doctor_names_a_stale_loop_and_frees_it_with_fix(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    view = dataclasses.replace(box.view(), disk_stale_loops=("/dev/loop3",))
    found = only(checks.check_container(view, HEALTHY_HOST))
    assert (found.id, found.fix_kind, found.severity) == ("disk-loop-stale", "disk", "warning")
    assert "/dev/loop3" in found.message
    assert found.fix == "lxcprov doctor c1 --fix"


def test_doctor_warns_when_the_images_could_outgrow_the_host(tmp_path: Path) -> None:
    box = healthy(tmp_path)
    view = dataclasses.replace(box.view(), disk_growth=(100 * 1024 * MiB, 20 * 1024 * MiB))
    found = checks.check_container(view, HEALTHY_HOST)
    assert ids(found) == ["disk-overcommit"]
    assert "100G" in found[0].message and "20G" in found[0].message
    assert ids(checks.check_container(box.view(), HEALTHY_HOST)) == []


def test_a_mount_without_a_loop_device_is_one_line_with_a_hint() -> None:
    image = Path("/var/tmp/x/c1/disk.img")
    said = (
        "mount failed with exit code 32: mount: /var/tmp/x/c1/rootfs: failed to setup "
        "loop device for /var/tmp/x/c1/disk.img."
    )
    error = diskimage.no_loop_error(image, said)
    assert error is not None
    assert error.message == (
        "could not set up a loop device for the disk image /var/tmp/x/c1/disk.img "
        "(mount: failed to setup loop device for /var/tmp/x/c1/disk.img)"
    )
    assert "\n" not in error.message and error.hint and "losetup" in error.hint
    other = "mount failed with exit code 32: mount: /r: wrong fs type, bad option"
    assert diskimage.no_loop_error(image, other) is None


@pytest.mark.parametrize("raw", ["17T", "99999999999999999999999T", "9" * 400])
def test_a_limit_bigger_than_the_filesystem_is_refused_in_one_line(raw: str) -> None:
    room = 50 * 1024**3  # a 50G filesystem holds the lxcpath
    with pytest.raises(InvalidArgumentError) as exc:
        disklimit.parse(raw, room)
    assert "bigger than the filesystem that holds the containers (50G)" in exc.value.message
    assert exc.value.hint is not None and "disk=50G" in exc.value.hint
    assert disklimit.parse("50G", room) == room  # the whole filesystem is still a limit


def test_new_check_refuses_a_limit_bigger_than_the_filesystem(tmp_path: Path) -> None:
    # What `new --check` and `new` run before anything is made (settings.check).
    from lxcprov.ops import settings
    from lxcprov.system.cgroups import CgroupHost

    host = CgroupHost("v2", v2=frozenset({"memory"}))
    with pytest.raises(InvalidArgumentError, match="bigger than the filesystem"):
        settings.check({"disk": "9" * 23 + "T"}, host, lxcpath=tmp_path / "not-yet")
    settings.check({"disk": "64M"}, host, lxcpath=tmp_path)


def _killed(command: str, detail: str = "", creating: bool = False) -> journal.Entry:
    return journal.Entry(Path("/x/.journal"), "d6", command, ("lxcprov", command, "d6"), 1, 1,
                         "t", "disk-swap", creating, detail=detail)  # fmt: skip


@pytest.mark.parametrize(
    "entry",
    [_killed("set", "disk:/x/d6/rootfs"), _killed("set", "disk:resize:/x/d6/rootfs"),
     _killed("restore")],
)  # fmt: skip
def test_a_killed_disk_change_is_ended_by_doctor_fix_never_destroy(entry: journal.Entry) -> None:
    # ls, start and doctor all take the hint from recovery.advice: none says destroy.
    from lxcprov.ops import recovery
    from lxcprov.ops.doctor.checks.state import incomplete

    assert recovery.advice("d6", entry) == "lxcprov doctor d6 --fix (ends it; no file is lost)"
    found = incomplete("d6", entry, "lxcprov")
    assert found.fix == "lxcprov doctor d6 --fix  # ends it; no file is lost"
    assert "destroy" not in found.fix and "template run" not in found.why
    assert "keeps the container and its files" in found.why


def test_a_killed_convert_is_finished_by_convert_and_a_killed_new_destroyed() -> None:
    from lxcprov.ops import recovery
    from lxcprov.ops.doctor.checks.state import incomplete

    convert = _killed("convert", "privileged")
    assert recovery.advice("d6", convert).startswith("lxcprov convert d6 --privileged (")
    assert incomplete("d6", convert, "lxcprov").fix.startswith("lxcprov convert d6 --privileged")
    new = _killed("new", creating=True)
    assert recovery.advice("d6", new).startswith("lxcprov destroy --force d6")
    assert "template run" in incomplete("d6", new, "lxcprov").why


def test_a_raise_waiting_for_the_next_start_is_shown_with_both_sizes(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    diskimage.make(image, 64 * MiB, (0, 0))
    assert diskimage.fs_bytes(image) == 64 * MiB == diskimage.fs_size(image)
    diskimage.grow_file(image, 128 * MiB)  # what `set disk=` does when it cannot grow live
    fs = diskimage.fs_bytes(image)
    assert fs == 64 * MiB
    said = disklimit.describe(128 * MiB, 55 * MiB, fs)
    assert said == "64M now, 128M at the next start (55M used)"
    assert disklimit.describe(64 * MiB, 12 * MiB, 64 * MiB) == "64M (12M used)"
    assert diskimage.fs_bytes(tmp_path / "none") is None


def test_a_holder_is_named_with_its_command() -> None:
    """A refusal names what holds an image, so the user knows what to end."""
    me = os.getpid()
    comm = Path(f"/proc/{me}/comm").read_text().strip()
    assert diskimage.named([me]) == f"{me} ({comm})"
    assert diskimage.named([]) == ""
    gone = 2**22 + 1  # above pid_max's ceiling: never a process
    assert diskimage.named([gone]) == str(gone)
    assert diskimage.named(list(range(1, 20))).count(",") == 7  # at most eight


def test_a_holder_that_named_itself_with_a_newline_stays_on_one_line() -> None:
    """A process names itself (prctl PR_SET_NAME); the error naming it stays one line.
    Seen by the outside reviews: 'rvl\\nFAKE' split the refusal in two, and "x), 1
    (systemd" read as a second holder."""
    import ctypes
    import multiprocessing

    ready, done = multiprocessing.Event(), multiprocessing.Event()

    def renamed() -> None:
        ctypes.CDLL(None).prctl(15, b"r\nF\x1b), 1 (sy", 0, 0, 0)  # PR_SET_NAME
        ready.set()
        done.wait(30)

    child = multiprocessing.get_context("fork").Process(target=renamed)
    child.start()
    try:
        assert ready.wait(30)
        said = diskimage.named([child.pid or 0])
    finally:
        done.set()
        child.join()
    assert said == f"{child.pid} (r\\x0aF\\x1b\\x29\\x2c 1 \\x28sy)"  # no holder "1 (sy)"
