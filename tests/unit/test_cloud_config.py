"""--user-data's cloud-config: every key lxcprov applies is read as cloud-init reads it,
every refusal is one line naming the key, and lxcprov's own path (first-boot scripts,
account files, the NoCloud seed) is what the document asks."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from pathlib import Path

import pytest

from lxcprov.engine import cloudconfig, cloudsteps, cloudusers, nocloud
from lxcprov.engine.cloudconfig import CloudConfig, User, WriteFile
from lxcprov.errors import InvalidArgumentError, UserDataError
from lxcprov.system.netintent import NetIntent

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@example"
HASH = "$6$abcdefgh$y3PbdpqOVW3W0/xUSnZlUK6pN.8hq8vQPjUC8e0yeZKDH6q0cLrCVkSxwEP7Ecm"


def parse(body: str, *, lenient: bool = False) -> CloudConfig:
    return cloudconfig.parse(f"#cloud-config\n{body}".encode(), "cc.yaml", lenient=lenient)


def refused(body: str | bytes, **kw: bool) -> str:
    data = body if isinstance(body, bytes) else f"#cloud-config\n{body}".encode()
    with pytest.raises(InvalidArgumentError) as exc:
        cloudconfig.parse(data, "cc.yaml", **kw)
    message = exc.value.message
    assert "\n" not in message and message.startswith("user-data cc.yaml: ")
    return message.removeprefix("user-data cc.yaml: ")


def test_every_key_of_the_subset() -> None:
    text = f"""\
hostname: web-one
timezone: Europe/Paris
package_update: true
packages: [bash, curl=7.88.1-10]
users:
  - default
  - bob
  - name: alice
    groups: "audio, wheel"
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: false
    passwd: "{HASH}"
    ssh_authorized_keys: ["{KEY}"]
ssh_authorized_keys: ["{KEY}"]
write_files:
  - path: /etc/motd
    content: hi
  - path: //opt//x.bin
    encoding: gz+b64
    content: {base64.b64encode(gzip.compress(b"zz", mtime=0)).decode()}
    owner: nobody:nogroup
    permissions: '0600'
    append: true
runcmd:
  - echo one
  - [sh, -c, "echo two"]
"""
    cfg = parse(text)
    assert cfg.text == "#cloud-config\n" + text
    assert (cfg.hostname, cfg.timezone) == ("web-one", "Europe/Paris")
    assert (cfg.packages, cfg.package_update) == (("bash", "curl=7.88.1-10"), True)
    assert cfg.default_user
    assert cfg.users == (
        User("bob"),
        User("alice", ("audio", "wheel"), ("ALL=(ALL) NOPASSWD:ALL",), "/bin/bash", (KEY,),
             False, HASH),
    )  # fmt: skip
    assert cfg.root_keys == (KEY,)
    assert cfg.files == (
        WriteFile("/etc/motd", b"hi"),
        WriteFile("/opt/x.bin", b"zz", "nobody:nogroup", 0o600, True),
    )
    assert cfg.runcmd == ("echo one", ("sh", "-c", "echo two"))
    assert cfg.ignored == ()


@pytest.mark.parametrize(
    ("encoding", "content"),
    [("b64", base64.b64encode(b"data").decode()), ("base64", base64.b64encode(b"data").decode()),
     ("gzip+base64", base64.b64encode(gzip.compress(b"data", mtime=0)).decode()),
     ("text/plain", "data")],
)  # fmt: skip
def test_encodings(encoding: str, content: str) -> None:
    cfg = parse(f"write_files: [{{path: /f, encoding: {encoding}, content: '{content}'}}]")
    assert cfg.files[0].data == b"data"


def test_an_empty_document_asks_nothing() -> None:
    assert parse("") == CloudConfig(text="#cloud-config\n")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("package_upgrade: true", "key package_upgrade is not one lxcprov applies"),
        ("package: [x]", "(did you mean 'packages'?)"),
        ("users: [{name: bob, uid: 5}]", "users[0]: key uid is not one lxcprov applies to a user"),
        ("write_files: [{path: /f, defer: true}]", "key write_files[0].defer is not one"),
        ("- a", "the document is a YAML list, not a mapping"),
        ("a: [1", "not YAML: line 2, column 6:"),
        ("a: &x 1\nb: *x", "YAML aliases"),
        ("runcmd: []\nruncmd: []", "key 'runcmd' is given twice"),
        ("hostname: -bad", "hostname: '-bad' is not a host name"),
        ("hostname: [a]", "hostname: a string is needed, not a list"),
        ("timezone: ../../etc/passwd", "is not a time zone name"),
        ("users: [{name: Bob}]", "users[0].name: 'Bob' is not a user or group name"),
        ("users: [{name: a}, {name: a}]", "users: a is given twice"),
        ("users: [{name: root}]", "root is not a user to create"),
        ("users: [{groups: [x]}]", "users[0]: a user needs a name"),
        ("users: [{name: a, groups: ['b c']}]", "users[0].groups[0]: 'b c' is not a user"),
        ("users: [{name: a, shell: bash}]", "users[0].shell: 'bash' is not an absolute path"),
        ("users: [{name: a, passwd: secret}]", "users[0].passwd: not a crypt(3) hash"),
        ("users: [{name: a, lock_passwd: 'no'}]", "users[0].lock_passwd: true or false"),
        ('users: [{name: a, sudo: "ALL\\nroot ALL"}]', "users[0].sudo[0]: it holds a newline"),
        ("users: [{name: a, ssh_authorized_keys: [nokey]}]", "not an SSH public key"),
        ("users: [3]", "users[0]: a user is a mapping or a name, not a number"),
        ('ssh_authorized_keys: "x y"', "ssh_authorized_keys: a list is needed"),
        ("write_files: [{content: x}]", "write_files[0]: a file needs a path"),
        ("write_files: [{path: etc/x}]", "'etc/x' is not an absolute path of a file"),
        ("write_files: [{path: /etc/}]", "'/etc/' is not an absolute path of a file"),
        ("write_files: [{path: /a/../b}]", "'/a/../b' has . or .. in it"),
        ('write_files: [{path: "/a\\nb"}]', "write_files[0].path: it holds a newline"),
        ("write_files: [{path: /f, permissions: 0644}]", "420 is not a quoted octal mode"),
        ("write_files: [{path: /f, permissions: '0999'}]", "'0999' is not a quoted octal mode"),
        ("write_files: [{path: /f, encoding: zstd}]", "'zstd' is not one lxcprov decodes"),
        ("write_files: [{path: /f, encoding: b64, content: '!!!'}]", "content: not b64"),
        ("write_files: [{path: /f, encoding: gzip, content: abc}]", "content: not gzip"),
        ("write_files: [{path: /f, owner: 'Bad:x'}]", "write_files[0].owner: 'Bad'"),
        ("write_files: [{path: /f, append: 1}]", "write_files[0].append: true or false"),
        ("write_files: [{path: /f, content: 3}]", "write_files[0].content: a string is needed"),
        ("packages: ['rm -rf']", "packages[0]: 'rm -rf' is not a package name"),
        ("packages: [[bash, '5.2']]", "packages[0]: a package is one name"),
        ("package_update: yes please", "package_update: true or false"),
        ("runcmd: [[]]", "runcmd[0]: an empty command"),
        ("runcmd: [{a: b}]", "runcmd[0]: a command is a string or a list of strings"),
        ('runcmd: [[echo, "a\\0"]]', "runcmd[0][1]: it holds a newline or a NUL byte"),
    ],
)
def test_refusals_are_one_line_naming_the_key(body: str, words: str) -> None:
    assert words in refused(body)


def test_the_header_size_and_encoding_are_checked() -> None:
    assert "does not start with the line #cloud-config" in refused(b"#!/bin/sh\necho hi\n")
    assert "does not start with the line" in refused(b"users: []\n")
    assert "not UTF-8 text" in refused(b"#cloud-config\n\xff\n")
    assert "holds a NUL byte" in refused(b"#cloud-config\na: \0\n")
    big = b"#cloud-config\n#" + b"x" * cloudconfig.MAX_BYTES
    assert "it is more than 1 MiB, the most taken" in refused(big)


def test_a_gzip_bomb_stops_at_the_cap() -> None:
    bomb = base64.b64encode(gzip.compress(b"\0" * (cloudconfig.MAX_FILE_BYTES + 10))).decode()
    words = refused(f"write_files: [{{path: /f, encoding: gz+b64, content: '{bomb}'}}]")
    assert f"more than {cloudconfig.MAX_FILE_BYTES} bytes once decoded" in words


def test_lenient_lists_what_it_ignores() -> None:
    cfg = parse("apt: {x: 1}\nhostname: h\nwrite_files: [{path: /f, defer: true}]", lenient=True)
    assert cfg.ignored == ("apt", "write_files[0].defer")
    assert cfg.hostname == "h"
    # A user's other keys would make another user than asked: refused even when lenient.
    assert "key uid" in refused("users: [{name: a, uid: 5}]", lenient=True)


def test_the_steps_run_in_cloud_inits_order_and_quote_everything() -> None:
    cfg = parse(f"""\
runcmd: ["echo '$HOME'", [touch, "a b; reboot"]]
packages: [bash]
package_update: true
users: [{{name: alice, groups: [audio], passwd: "{HASH}", ssh_authorized_keys: ["{KEY}"]}}]
""")
    steps = cloudsteps.steps(cfg, cloudsteps.Tools("useradd", apt=True))
    assert [s.id for s in steps] == [
        "user-data:users[0]", "user-data:package_update", "user-data:packages",
        "user-data:runcmd[0]", "user-data:runcmd[1]",
    ]  # fmt: skip
    assert steps[3].script == "echo '$HOME'"
    assert steps[4].script == "touch 'a b; reboot'"
    user = steps[0].script
    assert "useradd -m -G audio alice" in user and "usermod -L alice" in user
    assert f"'alice:{HASH}' | chpasswd -e" in user  # the $ of the hash quoted
    # As cloud-init: listing packages updates the lists first, even without package_update.
    alone = cloudsteps.steps(parse("packages: [bash]"), cloudsteps.Tools("useradd", apt=True))
    assert [(s.id, s.what) for s in alone] == [
        ("user-data:package_update", "packages (apt-get update)"),
        ("user-data:packages", "packages"),
    ]
    assert "APT::Update::Error-Mode=any" in alone[0].script  # a list not fetched is an error
    # Without useradd the account files are edited before the boot: no user step.
    no_useradd = cloudsteps.steps(cfg, cloudsteps.Tools("files", apt=True))
    assert next(s.id for s in no_useradd) == "user-data:package_update"
    assert "apt-get" in cloudsteps.check(cfg, cloudsteps.Tools("files", apt=False))


def test_a_user_script_is_valid_shell() -> None:
    cfg = parse(
        f'users: [{{name: a, shell: /bin/sh, groups: [x], ssh_authorized_keys: ["{KEY}"]}}]'
    )
    script = cloudsteps.steps(cfg, cloudsteps.Tools("useradd", apt=False))[0].script
    subprocess.run(["sh", "-n", "-c", script], check=True)


def test_sudoers_and_root_keys() -> None:
    cfg = parse('users: [{name: a, sudo: ["ALL=(ALL) ALL", "ALL=(ALL) NOPASSWD: /bin/ls"]}, b]')
    assert cloudsteps.sudoers(cfg).splitlines()[1:] == [
        "a ALL=(ALL) ALL", "a ALL=(ALL) NOPASSWD: /bin/ls"
    ]  # fmt: skip
    assert cloudsteps.sudoers(parse("users: [b]")) == ""
    assert cloudsteps.authorized_keys("k1 x", ("k1 x", "k2 y")) == "k1 x\nk2 y\n"
    assert cloudsteps.authorized_keys("", ("k2 y",)) == "k2 y\n"


def test_account_files_without_useradd() -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\nsvc:x:1005:1005::/srv:/bin/false\n"
    group = "root:x:0:\naudio:x:29:\nsvc:x:1005:\n"
    users = (User("alice", ("audio", "wheel"), keys=(KEY,), passwd=HASH),
             User("svc", ("audio",)))  # fmt: skip
    made = cloudusers.add(passwd, group, "", users, today=20000)
    assert made.passwd.splitlines()[-1] == "alice:x:1006:1006::/home/alice:/bin/sh"
    assert made.group.splitlines() == [
        "root:x:0:", "audio:x:29:alice,svc", "svc:x:1005:", "alice:x:1006:", "wheel:x:1007:alice",
    ]  # fmt: skip
    assert made.shadow.splitlines() == [
        f"alice:!{HASH}:20000:0:99999:7:::",
        "svc:!:20000:0:99999:7:::",
    ]
    assert [(h.path, h.uid, h.gid, h.keys) for h in made.homes] == [
        ("/home/alice", 1006, 1006, (KEY,)), ("/srv", 1005, 1005, ()),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="a group audio exists but no user audio"):
        cloudusers.add(passwd, group, "", (User("audio"),), today=1)


def test_the_seed() -> None:
    meta = json.loads(nocloud.meta_data("c1", "web-one"))
    assert meta["local-hostname"] == "web-one" and meta["instance-id"].startswith("lxcprov-c1-")
    assert json.loads(nocloud.meta_data("c1", "h"))["instance-id"] != meta["instance-id"]
    static = NetIntent("static", "br0", "10.128.28.5/24", "10.128.28.1", "10.128.28.1 9.9.9.9")
    assert json.loads(nocloud.network_config(static)) == {"network": {"version": 2, "ethernets": {
        "eth0": {"dhcp4": False, "addresses": ["10.128.28.5/24"],
                 "routes": [{"to": "0.0.0.0/0", "via": "10.128.28.1"}],
                 "nameservers": {"addresses": ["10.128.28.1", "9.9.9.9"]}}}}}  # fmt: skip
    dhcp = json.loads(nocloud.network_config(NetIntent("dhcp", "br0")))
    assert dhcp["network"]["ethernets"] == {"eth0": {"dhcp4": True}}
    assert json.loads(nocloud.network_config(NetIntent())) == {"network": {"config": "disabled"}}


def test_read_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    from lxcprov.ops import userdata

    with pytest.raises(InvalidArgumentError, match="not a regular file"):
        userdata.read(str(tmp_path), lenient=False)
    with pytest.raises(InvalidArgumentError, match="No such file"):
        userdata.read(str(tmp_path / "none"), lenient=False)
    good = tmp_path / "cc.yaml"
    good.write_text("#cloud-config\nhostname: h\n")
    assert userdata.read(str(good), lenient=False).hostname == "h"
    big = tmp_path / "big.yaml"  # read stops past the cap: its real size is not known
    big.write_bytes(b"#cloud-config\n" + b"#" * (4 * cloudconfig.MAX_BYTES))
    with pytest.raises(
        InvalidArgumentError, match=r"big\.yaml: it is more than 1 MiB, the most taken"
    ):
        userdata.read(str(big), lenient=False)


@pytest.mark.parametrize("field", ["shell: '/bin/sh:x'", "shell: \"/bin/sh\\tx\"",
                                   "shell: \"/bin/\\e[31msh\""])  # fmt: skip
def test_account_fields_take_no_colon_or_control_character(field: str) -> None:
    # On busybox the account files are edited by lxcprov: a ':' would split the field.
    words = refused(f"users: [{{name: carol, {field}}}]")
    assert words.startswith("users[0].shell: ") and "a field of the account files" in words


@pytest.mark.parametrize(
    "path", ["/proc/x", "/sys/kernel/x", "/dev/null", "/dev", "/run/a/b", "/var/run/x.pid"]
)
def test_write_files_under_what_the_boot_mounts_over_are_refused(path: str) -> None:
    words = refused(f"write_files: [{{path: '{path}'}}]")
    assert words.startswith("write_files[0].path: ") and "which the boot mounts over" in words
    assert parse("write_files: [{path: /devices/x}, {path: /var/running}]").files


def test_write_files_through_a_link_to_what_the_boot_mounts_over_are_refused(
    tmp_path: Path,
) -> None:
    from lxcprov.ops import userdata
    from lxcprov.system.rootfs import Rootfs

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "mtab").symlink_to("../proc/self/mounts")  # as Debian has it
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "lock").symlink_to("/run/lock")
    with Rootfs(tmp_path) as rootfs:
        for path, real in (("/etc/mtab", "/proc/self/mounts"), ("/var/lock/x", "/run/lock/x")):
            with pytest.raises(UserDataError) as exc:
                userdata.refuse_mounted_over(rootfs, path, "write_files[0]")
            assert exc.value.message.startswith(f"write_files[0]: it leads to {real}, under")
        userdata.refuse_mounted_over(rootfs, "/etc/motd", "write_files[0]")  # no error


def test_every_unknown_key_gets_its_near_miss() -> None:
    words = refused("bootcmd: [x]\npackage: [x]")
    assert words == "key package is not one lxcprov applies (did you mean 'packages'?); nor bootcmd"
    assert "key shel is not one" in refused("users: [{name: a, uid: 5, shel: /bin/sh}]")


def test_user_data_is_refused_for_an_application_image() -> None:
    from lxcprov.engine import appimage
    from lxcprov.ops import new

    with pytest.raises(InvalidArgumentError) as exc:
        new.refuse_user_data(appimage.APPLICATION, "oci:/img:app")
    assert exc.value.message == (
        "--user-data: oci:/img:app is an application image (no init): nothing would run "
        "the cloud-config at its first boot"
    )
    new.refuse_user_data(appimage.SYSTEM, "oci:/img:sys")  # a system image takes it
