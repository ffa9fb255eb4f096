"""The planner, a row per case: a spec and an observed container in, actions out, each
with its reason (no-ops included)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from lxcprov.engine.apply import plan as P
from lxcprov.engine.apply.document import ContainerSpec
from lxcprov.engine.apply.files import FileNow, plan_file, resolve_owner
from lxcprov.engine.apply.plan import HostView, Observed, Options
from lxcprov.engine.mounts import Mount
from lxcprov.system import lxcconf
from lxcprov.system.hostnet.forwards import Forward
from lxcprov.system.netintent import NetIntent
from lxcprov.system.origin import Origin
from tests.unit.apply.docs import V1, parse

HOST = HostView(V1, "br0")
CONFIG = """\
lxc.uts.name = web
lxc.tty.max = 4
lxc.cgroup.memory.limit_in_bytes = 268435456
lxc.start.auto = 1
"""


def spec(text: str = "", name: str = "web") -> ContainerSpec:
    return parse(f'[containers.{name}]\ntemplate = "busybox"\n{text}').containers[0]


def seen(**kw: object) -> Observed:
    base = Observed(
        "web", "/lxc", "RUNNING", made_by_lxcprov=True, origin=Origin("busybox"),
        privileged=False, isolated=False, config=tuple(lxcconf.parse(CONFIG)),
        intent=NetIntent("dhcp", "br0", owner="web@/lxc"),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def actions(text: str = "", obs: Observed | None = None, **opts: bool) -> list[P.Action]:
    cp = P.plan_container(spec(text), obs or seen(), HOST, Options(**opts))
    assert not cp.error, cp.error
    return list(cp.actions)


def changes(text: str = "", obs: Observed | None = None, **opts: bool) -> list[str]:
    return [f"{a.kind} {a.key}: {a.reason}".replace("  ", " ")
            for a in actions(text, obs, **opts) if a.pending]  # fmt: skip


def error(text: str, obs: Observed, name: str = "web") -> str:
    return P.plan_container(spec(text, name), obs, HOST, Options()).error


def test_a_missing_container_is_created_with_its_first_boot() -> None:
    obs = Observed("web", "/lxc")
    text = ('memory = "256M"\nfirst_boot = ["a"]\nstate = "stopped"\ngroups = ["g"]\n'
            '[[containers.web.files]]\npath = "/etc/motd"\ncontent = "hi\\n"\n')  # fmt: skip
    found = actions(text, obs)
    assert [(a.kind, a.reason) for a in found] == [
        ("create", "does not exist"), ("file", "new file"), ("run", "first boot"),
        ("stop", "state = stopped (after its first boot)"), ("groups", "new container"),
    ]  # fmt: skip
    assert found[0].after == "busybox, memory 256M"
    assert "+hi" in found[1].diff


def test_a_matching_container_has_only_no_ops_each_with_a_reason() -> None:
    found = actions('memory = "256M"\nautostart = true\nttys = 4\nbridge = "br0"\n'
                    'address = "dhcp"\nmounts = []\npublish = []\n')  # fmt: skip
    assert [a.change for a in found] == [False] * len(found)
    assert [a.reason for a in found] == [
        "already 256M", "already yes", "already 4", "already dhcp on br0",
        "no mounts already", "no published ports already",
    ]  # fmt: skip


def test_settings_old_to_new_and_which_need_a_restart() -> None:
    found = [a for a in actions('memory = "512M"\nttys = 2\nhostname = "w"\n') if a.pending]
    assert [(a.key, a.before, a.after, a.restart) for a in found] == [
        ("memory", "256M", "512M", False), ("ttys", "4", "2", True), ("hostname", "web", "w", True),
    ]  # fmt: skip
    stopped = [a for a in actions("ttys = 2\n", seen(state="STOPPED")) if a.kind == "setting"]
    assert not stopped[0].restart


@pytest.mark.parametrize(
    ("text", "intent", "change"),
    [
        ('address = "dhcp"', NetIntent("dhcp", "br0"), False),
        ('address = "auto"', NetIntent("static", "br0", "10.0.3.7/24"), False),
        ('address = "auto"', NetIntent("dhcp", "br0"), True),
        ('address = "10.0.3.7"', NetIntent("static", "br0", "10.0.3.7/24"), False),
        ('address = "10.0.3.7/16"', NetIntent("static", "br0", "10.0.3.7/24"), True),
        ('address = "10.0.3.8"', NetIntent("static", "br0", "10.0.3.7/24"), True),
        ('bridge = "br1"', NetIntent("dhcp", "br0"), True),
        ('bridge = "none"', NetIntent("dhcp", "br0"), True),
        ('bridge = "none"', NetIntent(), False),
        ('bridge = "br0"', NetIntent(), True),
    ],
)
def test_network(text: str, intent: NetIntent, change: bool) -> None:
    (net,) = [a for a in actions(text + "\n", seen(intent=intent)) if a.kind == "network"]
    assert net.pending == change, net


def test_mounts_and_ports_are_exactly_the_listed_ones() -> None:
    obs = seen(mounts=(Mount("/old", "/srv/old"), Mount("/same", "/srv/same")),
               forwards=(Forward("web@/lxc", "tcp", 8080, 80, "10.0.3.9"),
                         Forward("web@/lxc", "tcp", 9090, 90, "10.0.3.9")))  # fmt: skip
    assert changes('mounts = ["/srv/same:/same", "/srv/new:/new:ro"]\n'
                   'publish = ["8080:80", "7070:70/udp"]\n', obs) == [
        "mounts /new: add /srv/new:/new:ro", "mounts /old: remove /srv/old:/old",
        "publish 7070:70/udp: publish 7070:70/udp", "publish 9090:90: unpublish 9090:90",
    ]  # fmt: skip


def test_what_needs_a_new_rootfs_waits_for_replace() -> None:
    text = 'release = "edge"\nprivileged = true\nmemory = "512M"\n'
    found = actions(text)
    replace_action = found[0]
    assert replace_action.kind == "replace" and not replace_action.pending
    assert replace_action.reason == "release (none) -> edge; privileged no -> yes"
    assert "needs --replace" in replace_action.blocked
    assert [a.key for a in found if a.pending] == ["memory"]  # the rest goes on in place
    with_replace = actions(text, replace=True)
    assert [a.kind for a in with_replace] == ["replace"] and with_replace[0].pending


def test_no_replace_or_removal_of_what_lxcprov_did_not_make() -> None:
    foreign = seen(made_by_lxcprov=False, origin=Origin("debian", "bookworm",
                                                        made_by="lxc-create"))  # fmt: skip
    cp = P.plan_container(spec("privileged = true\n"), foreign, HOST, Options(replace=True))
    assert "lxcprov did not make it" in cp.error
    assert "never removes what it did not create" in error('state = "absent"\n', foreign)
    # Adopting it by name in place is fine.
    assert changes('memory = "512M"\n', foreign) == ["setting memory: 256M -> 512M"]


def test_a_count_never_takes_over_a_foreign_container() -> None:
    doc = parse('[containers.web]\ncount = 2\ntemplate = "busybox"\n')
    foreign = seen(made_by_lxcprov=False)
    cp = P.plan_container(doc.containers[0], replace(foreign, name="web1"), HOST, Options())
    assert cp.error.startswith("web1 exists and lxcprov did not make it: a count never takes")


def test_claims_held_by_others_are_refused_before_anything_runs() -> None:
    host = HostView(V1, "br0", {"br0": {ipaddress.IPv4Address("10.0.3.5"): "db@/lxc"}},
                    (Forward("db@/lxc", "tcp", 8080, 80, "10.0.3.5"),))  # fmt: skip
    cp = P.plan_container(spec('address = "10.0.3.5"\n'), seen(), host, Options())
    taken = "doc.toml:3: containers.web.address: 10.0.3.5 is taken on br0 by db (db@/lxc)"
    assert cp.error == taken
    cp = P.plan_container(spec('publish = ["8080:80"]\n'), seen(), host, Options())
    assert cp.error.endswith("host port 8080/tcp is published for db (db@/lxc)")


def test_killed_and_broken_containers() -> None:
    killed = Observed("web", "/lxc", "INCOMPLETE", "`lxcprov new` (pid 1) in phase start", "new")
    assert [a.kind for a in actions("", killed)] == ["create"]
    assert "removed and made again" in actions("", killed)[0].reason
    convert = replace(killed, leftover="convert")
    assert "finish that command first" in error("", convert)
    removal = replace(killed, leftover="destroy", problem="`lxcprov destroy` (pid 1)")
    (made,) = actions("", removal)  # a killed destroy: what it left goes, then made again
    assert made.kind == "create" and made.reason.startswith("left half-removed by"), made
    broken = Observed("web", "/lxc", "BROKEN", "LXC cannot load it")
    assert error("", broken) == "LXC cannot load it"


def test_files_first_boot_state_and_groups() -> None:
    files = {"/etc/motd": FileNow("file", b"old\n", 0o100600, 0, 0)}
    obs = seen(state="STOPPED", files=files, done=frozenset(), groups=("a",))
    text = ('first_boot = ["one"]\ngroups = ["b"]\n[[containers.web.files]]\npath = "/etc/motd"\n'
            'content = "new\\n"\nmode = "0644"\n')  # fmt: skip
    found = [a for a in actions(text, obs) if a.pending]
    assert [(a.kind, a.reason) for a in found] == [
        ("file", "content differs, mode 0600 -> 0644"), ("run", "not run yet"),
        ("start", "stopped; state = started"), ("groups", "a -> b"),
    ]  # fmt: skip
    assert "-old\n+new\n" in found[0].diff
    ran = spec(text).first_boot or ()
    done = seen(files={"/etc/motd": FileNow("file", b"new\n", 0o100644)},
                done=frozenset(c.id for c in ran), groups=("b",))  # fmt: skip
    assert changes(text, done) == []
    assert [a.reason for a in actions(text, done) if a.kind == "run"] == ["ran already"]


def test_prune_only_what_lxcprov_made() -> None:
    doc = parse('[containers.web]\ntemplate = "busybox"\n')
    others = [seen(name="mine"), seen(name="theirs", made_by_lxcprov=False)]
    observed = {"web": seen()}
    kept = P.plan_document(doc, observed, others, HOST, Options())
    assert [c.name for c in kept.containers] == ["web"]
    pruned = P.plan_document(doc, observed, others, HOST, Options(prune=True))
    assert [(c.name, c.prune, bool(c.changes)) for c in pruned.containers] == [
        ("mine", True, True), ("theirs", True, False), ("web", False, False)]  # fmt: skip


def test_file_owners_come_from_the_containers_own_files() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n"
    group = "root:x:0:\nadm:x:4:\n"
    assert resolve_owner("www", passwd, group) == (33, 34)
    assert resolve_owner("www:adm", passwd, group) == (33, 4)
    assert resolve_owner("1000:1001", "", "") == (1000, 1001)
    missing = "no user 'nobody' in the container's /etc/passwd"
    assert resolve_owner("nobody", passwd, group) == missing
    f = spec('[[containers.web.files]]\npath = "/x"\ncontent = "a"\nowner = "www"\n').files
    assert f is not None
    assert plan_file(f[0], FileNow("other", what="a directory"), passwd, group).problem
    binary = plan_file(replace(f[0], data=b"\xff"), FileNow("file", b"\xfe", 0o644, 33, 34),
                       passwd, group)  # fmt: skip
    assert binary.diff == "Binary content of /x differs\n"


def test_a_document_turns_nesting_on_and_off_as_set_would() -> None:
    """nesting = true is the document's author's own intent: apply sets it (a restart)."""
    (on,) = [a for a in actions("nesting = true\n") if a.kind == "setting"]
    assert (on.key, on.before, on.after, on.change, on.restart) == (
        "nesting", "no", "yes", True, True,
    )  # fmt: skip
    keys = {"lxc.apparmor.profile": "generated", "lxc.apparmor.allow_nesting": "1",
            "lxc.mount.auto": "cgroup:rw:force"}  # fmt: skip
    nested = lxcconf.update(CONFIG, dict(keys), section=frozenset(keys))  # as set writes it
    obs = seen(config=tuple(lxcconf.parse(nested)))
    (same,) = [a for a in actions("nesting = true\n", obs) if a.kind == "setting"]
    assert (same.change, same.reason) == (False, "already yes")
    (off,) = [a for a in actions("nesting = false\n", obs) if a.kind == "setting"]
    assert (off.before, off.after, off.change) == ("yes", "no", True)


def test_disk_is_compared_with_the_image_not_a_config_key() -> None:
    assert changes('disk = "64M"\n') == ["setting disk: none -> 64M"]
    assert changes('disk = "128M"\n', seen(disk=64 * 1024**2)) == ["setting disk: 64M -> 128M"]
    assert changes('disk = "64M"\n', seen(disk=64 * 1024**2)) == []
