"""The config editor keeps everything it does not manage byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from lxcprov.errors import ContainerConfigError
from lxcprov.system import lxcconf

SAMPLE = """\
# Template used to create this container: /usr/share/lxc/templates/lxc-busybox
lxc.include = /usr/share/lxc/config/common.conf

   # my own note, indented
lxc.rootfs.path = dir:/var/lib/lxc/c1/rootfs
lxc.uts.name=c1
lxc.cgroup.devices.allow = c 1:3 rwm
lxc.cgroup.devices.allow = c 1:5 rwm
weird line without equals
"""


def test_round_trip_is_byte_for_byte() -> None:
    assert lxcconf.render(lxcconf.parse(SAMPLE)) == SAMPLE
    assert lxcconf.update(SAMPLE, {}) == SAMPLE


def test_replace_in_place_keeps_order_and_comments() -> None:
    out = lxcconf.update(SAMPLE, {"lxc.uts.name": "web"})
    assert out == SAMPLE.replace("lxc.uts.name=c1", "lxc.uts.name = web")
    assert lxcconf.get(lxcconf.parse(out), "lxc.uts.name") == "web"


def test_same_value_keeps_the_users_spacing() -> None:
    assert lxcconf.update(SAMPLE, {"lxc.uts.name": "c1"}) == SAMPLE


def test_new_keys_go_to_one_marked_trailing_section() -> None:
    out = lxcconf.update(SAMPLE, {"lxc.start.auto": "1"})
    out = lxcconf.update(out, {"lxc.cgroup.memory.limit_in_bytes": "536870912"})
    assert out.startswith(SAMPLE)
    tail = out[len(SAMPLE) :]
    assert tail == (
        f"\n{lxcconf.BEGIN}\nlxc.start.auto = 1\n"
        f"lxc.cgroup.memory.limit_in_bytes = 536870912\n{lxcconf.END}\n"
    )


def test_removing_the_last_managed_key_removes_the_section() -> None:
    out = lxcconf.update(SAMPLE, {"lxc.start.auto": "1"})
    assert lxcconf.update(out, {"lxc.start.auto": None}) == SAMPLE


def test_remove_key_outside_section_and_duplicates() -> None:
    text = "a = 1\nlxc.tty.max = 4\nb = 2\nlxc.tty.max = 2\n"
    assert lxcconf.update(text, {"lxc.tty.max": "6"}) == "a = 1\nlxc.tty.max = 6\nb = 2\n"
    assert lxcconf.update(text, {"lxc.tty.max": None}) == "a = 1\nb = 2\n"


def test_last_value_wins_like_liblxc() -> None:
    lines = lxcconf.parse("k = 1\nk = 2\n")
    assert lxcconf.get(lines, "k") == "2"
    assert lxcconf.get(lines, "missing") is None
    assert lxcconf.items(lines) == [("k", "1"), ("k", "2")]


def test_write_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text("a = 1\n")
    target.chmod(0o600)
    lxcconf.write(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config"]


def test_quotes_are_dropped_like_liblxc_but_kept_in_the_file() -> None:
    text = 'lxc.uts.name = "c1"\n'
    assert lxcconf.get(lxcconf.parse(text), "lxc.uts.name") == "c1"
    assert lxcconf.update(text, {"lxc.uts.name": "c1"}) == text


def test_a_bridge_set_on_a_none_network_keeps_the_interface_type_first() -> None:
    # Found by bench/chaos.py: a busybox clone made with --network none has the template's
    # `lxc.net.0.type = empty` below lxcprov's section; setting a bridge put link and
    # veth.pair into the section above it, and LXC refused the whole config.
    text = (
        "lxc.signal.halt = SIGUSR1\n"
        f"{lxcconf.BEGIN}\nlxc.idmap = u 0 100000 65536\n{lxcconf.END}\n"
        "lxc.net.0.type = empty\nlxc.uts.name = x\n"
    )
    out = lxcconf.update(text, {
        "lxc.net.0.type": "veth", "lxc.net.0.link": "br0", "lxc.net.0.veth.pair": "lxv1",
        "lxc.net.1.type": "veth",
    })  # fmt: skip
    keys = [ln.key for ln in lxcconf.parse(out) if ln.key.startswith("lxc.net.")]
    assert keys[0] == "lxc.net.0.type"
    assert keys.count("lxc.net.0.type") == 1
    assert lxcconf.get(lxcconf.parse(out), "lxc.net.0.type") == "veth"
    assert keys.index("lxc.net.1.type") == len(keys) - 1
    assert "lxc.uts.name = x" in out


def test_interface_types_already_first_are_left_where_they_are() -> None:
    text = "lxc.net.0.type = veth\nlxc.net.0.link = br0\n# note\nlxc.uts.name = x\n"
    assert lxcconf.update(text, {"lxc.net.0.link": "br1"}) == text.replace("br0", "br1")


@pytest.mark.parametrize("brk", ["\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\0"])
def test_a_config_with_a_line_break_other_than_newline_is_never_written(
    tmp_path: Path, brk: str
) -> None:
    """Whatever let a value through, the file writer does not: \r read as a line end
    would make `lxc.hook.pre-start = ...` a line of its own (a hook run as root)."""
    config = tmp_path / "config"
    config.write_text("lxc.uts.name = c1\n")
    text = f"lxc.uts.name = c1\nlxc.init.cwd = /{brk}lxc.hook.pre-start = /bin/evil\n"
    with pytest.raises(ContainerConfigError, match="line 2"):
        lxcconf.write(config, text)
    assert config.read_text() == "lxc.uts.name = c1\n", "the file is left as it was"
    assert [p.name for p in tmp_path.iterdir()] == ["config"], "no temporary file left"
