"""nesting=yes|no: the same keys on every cgroup layout, removed only where they are
still nesting's own, shown from the file alone; an archive never brings them back."""

from __future__ import annotations

import pytest

from lxcprov.engine import archive, nesting
from lxcprov.engine import settings_table as settings
from lxcprov.errors import InvalidArgumentError
from lxcprov.system import lxcconf
from lxcprov.system.cgroups import CgroupHost

HOSTS = {
    "v1": CgroupHost("v1", frozenset({"memory", "cpu", "cpuset", "devices"})),
    "hybrid": CgroupHost("hybrid", frozenset({"memory", "cpu", "devices"}), frozenset()),
    "v2": CgroupHost("v2", v2=frozenset({"memory", "cpu"}), v2_root="/sys/fs/cgroup"),
}
ON = {
    "lxc.apparmor.profile": "generated",
    "lxc.apparmor.allow_nesting": "1",
    "lxc.mount.auto": "cgroup:rw:force",
}


def _ctx(host: CgroupHost, text: str = "") -> settings.Ctx:
    return settings.Ctx(host, lxcconf.parse(text), {})


def _set(text: str, raw: str, host: CgroupHost = HOSTS["hybrid"]) -> str:
    """The config after `set nesting=RAW`, written as lxcprov.ops.settings writes it."""
    wanted = settings.SETTINGS["nesting"].compute(raw, _ctx(host, text))
    assert wanted.in_section
    return lxcconf.update(text, wanted.keys, section=frozenset(wanted.keys))


@pytest.mark.parametrize("layout", sorted(HOSTS))
def test_yes_writes_the_measured_keys_and_no_device_rule(layout: str) -> None:
    wanted = settings.SETTINGS["nesting"].compute("yes", _ctx(HOSTS[layout]))
    assert wanted.keys == ON
    assert (wanted.display, wanted.live) == ("yes", False)  # LXC reads them at start
    # No tun rule on any layout: runc leaves the device cgroup alone in a user namespace.
    assert not any("devices" in k for k in wanted.keys)
    assert not any(k.startswith("lxc.cgroup") for k in wanted.keys)


@pytest.mark.parametrize("layout", sorted(HOSTS))
def test_yes_then_no_gives_back_the_file_it_started_from(layout: str) -> None:
    start = "lxc.include = /usr/share/lxc/config/debian.common.conf\nlxc.tty.max = 4\n"
    host = HOSTS[layout]
    on = _set(start, "yes", host)
    assert nesting.enabled(lxcconf.parse(on))
    assert settings.shown(_ctx(host, on), "c1")["nesting"] == "yes"
    assert _set(on, "yes", host) == on
    assert _set(on, "off", host) == start
    assert settings.shown(_ctx(host, start), "c1")["nesting"] == "no"


def test_a_templates_own_mount_auto_line_stays_under_nesting() -> None:
    """busybox's template writes lxc.mount.auto in the file: nesting adds its line after it
    (LXC adds them up: proc and sys stay, the cgroup mode is the later line's), and off
    gives the file back as it was."""
    start = "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed\nlxc.tty.max = 1\n"
    on = _set(start, "yes")
    lines = lxcconf.parse(on)
    assert lxcconf.values(lines, "lxc.mount.auto") == [
        "cgroup:mixed proc:mixed sys:mixed", "cgroup:rw:force",
    ]  # fmt: skip
    assert nesting.enabled(lines)
    assert _set(on, "no") == start


def test_a_profile_a_person_wrote_comes_back_when_nesting_goes() -> None:
    start = "lxc.apparmor.profile = unconfined\n"
    on = _set(start, "yes")
    assert lxcconf.get(lxcconf.parse(on), "lxc.apparmor.profile") == "generated"
    assert _set(on, "no") == start


def test_no_keeps_a_profile_or_mount_line_a_person_wrote() -> None:
    text = "".join(f"{k} = {v}\n" for k, v in ON.items())
    off = settings.SETTINGS["nesting"].compute("no", _ctx(HOSTS["v1"], text))
    assert off.keys == {}  # not lxcprov's section's lines: "no change"
    assert not nesting.enabled(lxcconf.parse(text))  # the setting is what lxcprov wrote
    assert nesting.in_effect(lxcconf.items(lxcconf.parse(text)))  # what LXC does: doctor


def test_one_key_missing_is_not_nesting() -> None:
    text = "".join(f"{k} = {v}\n" for k, v in ON.items() if k != "lxc.mount.auto")
    assert not nesting.enabled(lxcconf.parse(text))
    # An include's values never count: only the file's own lines are read.
    assert not nesting.enabled(lxcconf.parse("lxc.include = /usr/share/lxc/config/nesting.conf\n"))


@pytest.mark.parametrize("raw", ["maybe", "2", ""])
def test_a_value_that_is_not_yes_or_no_is_refused(raw: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not yes or no"):
        settings.SETTINGS["nesting"].compute(raw, _ctx(HOSTS["v1"]))


def test_an_archive_never_brings_nesting_back() -> None:
    """Import drops every nesting key of an archive's config: nesting is the user's
    choice on this host (`lxcprov set NAME nesting=yes` after the import)."""
    text = (
        "lxc.include = /usr/share/lxc/config/debian.common.conf\n"
        "lxc.include = /usr/share/lxc/config/nesting.conf\n"
        + "".join(f"{k} = {v}\n" for k, v in ON.items())
        + "lxc.tty.max = 4\n"
    )
    kept = archive.portable_config(text)
    written = "\n".join(kept.lines)
    for key in ON:
        assert key not in written, written
        assert any(line.startswith(key) for line in kept.dropped), kept.dropped
    assert "nesting.conf" not in written and "lxc.tty.max = 4" in written
