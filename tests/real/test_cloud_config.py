"""`new --user-data`: one cloud-config file, carried out on real containers.

On lxcprov's own path (no cloud-init in the container: busybox, whose account files
lxcprov edits, and Debian, where useradd runs inside) and on the seed path (a Debian
container with cloud-init installed by the template: lxcprov writes a NoCloud seed and
waits for cloud-init), the same file gives the same user (groups, key), the same files
(content, owner, mode) and the same runcmd result. An unknown key is one line and makes
nothing; `packages` with no mirror reachable fails naming the item; a `new` killed in
its user-data phases leaves an INCOMPLETE container that `destroy --force` removes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real.harness import Lxc, wait_for_fault
from tests.real.hostnet.hostnet_lab import NetLab
from tests.real.netharness import bridge as _bridge

pytestmark = pytest.mark.real

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAliceKeyForTests alice@example"
ROOT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRootKeyForTests root@example"

# What both kinds of container take (busybox has no tzdata and no apt: no timezone,
# no packages here).
COMMON = f"""\
#cloud-config
hostname: cc-host
users:
  - default
  - name: alice
    groups: [audio, cctest]
    shell: /bin/sh
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys: ["{KEY}"]
ssh_authorized_keys: ["{ROOT_KEY}"]
write_files:
  - path: /etc/cc/hello.txt
    content: |
      hello from user-data
    owner: root:root
    permissions: '0640'
  - path: /opt/cc/data.bin
    encoding: gz+b64
    content: H4sIAAAAAAAAA8tIzcnJ5wIAIDA6NgYAAAA=
    permissions: '0600'
runcmd:
  - echo ran >> /root/runcmd-out
  - [sh, -c, "id -nG alice | tr ' ' '\\\\n' | sort | tr '\\\\n' ' ' >> /root/runcmd-out"]
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    return path


def _inside(lxc: Lxc, name: str, script: str) -> str:
    out = lxc.attach(name, "/bin/sh", "-c", script)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _what_it_made(lxc: Lxc, name: str) -> dict[str, str]:
    """What the cloud-config made inside, as the container itself reports it."""
    return {
        "user": _inside(lxc, name, "id -un alice; id -nG alice | tr ' ' '\\n' | sort"),
        "home": _inside(lxc, name, "grep '^alice:' /etc/passwd | cut -d: -f6,7"),
        "key": _inside(lxc, name, "cat ~alice/.ssh/authorized_keys"),
        # The ids may differ between paths (cloud-init makes its default user first).
        "key_owner": _inside(
            lxc,
            name,
            "set -- $(ls -ln ~alice/.ssh/authorized_keys); "
            '[ "$3" = "$(id -u alice)" ] && [ "$4" = "$(id -g alice)" ] && echo "$1 alice"',
        ),
        "root_key": _inside(lxc, name, f"grep -cx '{ROOT_KEY}' /root/.ssh/authorized_keys"),
        "files": _inside(
            lxc,
            name,
            "for f in /etc/cc/hello.txt /opt/cc/data.bin; do "
            "ls -ln $f | awk '{print $1, $3, $4}'; cat $f; done",
        ),
        "sudoers": _inside(lxc, name, "grep -h '^alice ' /etc/sudoers.d/*"),
        "hostname": _inside(lxc, name, "hostname; cat /etc/hostname"),
        "runcmd": _inside(lxc, name, "cat /root/runcmd-out"),
    }


def _expected_common(made: dict[str, str]) -> None:
    assert made["user"] == "alice\nalice\naudio\ncctest\n"
    assert made["key"] == f"{KEY}\n"
    assert made["key_owner"] == "-rw------- alice\n"
    assert made["root_key"] == "1\n"
    assert made["files"] == ("-rw-r----- 0 0\nhello from user-data\n"
                             "-rw------- 0 0\nhello\n")  # fmt: skip
    assert made["sudoers"] == "alice ALL=(ALL) NOPASSWD:ALL\n"
    assert made["hostname"] == "cc-host\ncc-host\n"
    assert made["runcmd"] == "ran\nalice audio cctest "  # the last tr took the newline


def _new(lxc: Lxc, name: str, *args: str) -> dict[str, object]:
    out = lxc.cli("new", name, "--network", "none", "--json", *args)  # args may end in -- ...
    data = json.loads(out.stdout)
    assert data["state"] == "RUNNING"
    return data  # type: ignore[no-any-return]


def test_busybox_lxcprov_applies_it(lxcpath: Lxc, tmp_path: Path) -> None:
    cc = _file(tmp_path, COMMON)
    data = _new(lxcpath, "cc1", "-t", "busybox", "--user-data", str(cc))
    assert "user-data applied by lxcprov (2 first-boot steps)" in data["notes"]  # type: ignore[operator]
    made = _what_it_made(lxcpath, "cc1")
    _expected_common(made)
    assert made["home"] == "/home/alice:/bin/sh\n"
    record = json.loads((lxcpath.path / "cc1" / "lxcprov-apply.json").read_text())
    assert [r["id"] for r in record["ran"]] == ["user-data:runcmd[0]", "user-data:runcmd[1]"]
    # Run once: a restart runs nothing again.
    lxcpath.cli("restart", "cc1")
    assert _inside(lxcpath, "cc1", "cat /root/runcmd-out") == made["runcmd"]


@pytest.mark.bases("debian")
def test_debian_without_cloud_init_lxcprov_applies_it(lxcpath: Lxc, tmp_path: Path) -> None:
    cc = _file(tmp_path, COMMON + "timezone: Europe/Paris\n")
    data = _new(lxcpath, "cc2", "-t", "debian", "--user-data", str(cc))
    assert "user-data applied by lxcprov (3 first-boot steps)" in data["notes"]  # type: ignore[operator]
    made = _what_it_made(lxcpath, "cc2")
    _expected_common(made)
    assert made["home"] == "/home/alice:/bin/sh\n"
    assert _inside(lxcpath, "cc2", "readlink /etc/localtime; cat /etc/timezone; date +%Z") in (
        "/usr/share/zoneinfo/Europe/Paris\nEurope/Paris\nCET\n",
        "/usr/share/zoneinfo/Europe/Paris\nEurope/Paris\nCEST\n",
    )


@pytest.mark.bases("debian")
def test_debian_refuses_a_file_whose_path_leads_under_proc(lxcpath: Lxc, tmp_path: Path) -> None:
    # Debian's /etc/mtab is a link to ../proc/self/mounts: written before the boot, the
    # file would be hidden by /proc and lost.
    cc = _file(tmp_path, "#cloud-config\nwrite_files: [{path: /etc/mtab, content: x}]\n")
    out = lxcpath.cli("new", "cc7", "-t", "debian", "--network", "none", "--user-data", str(cc),
                      check=False)  # fmt: skip
    assert out.returncode != 0
    error = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert error == [
        "error: user-data: write_files[0] (/etc/mtab): it leads to /proc/self/mounts, under "
        "/proc, which the boot mounts over: the file would be lost"
    ]
    assert not (lxcpath.path / "cc7").exists(), "the failed container is removed"


@pytest.mark.bases("debian")
def test_packages_without_a_mirror_fail_naming_the_item(lxcpath: Lxc, tmp_path: Path) -> None:
    cc = _file(tmp_path, "#cloud-config\npackages: [bash]\n")
    out = lxcpath.cli("new", "cc3", "-t", "debian", "--network", "none", "--user-data", str(cc),
                      check=False)  # fmt: skip
    assert out.returncode != 0
    error = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1
    assert error[0].startswith("error: user-data: packages (apt-get update) failed in cc3: ")
    assert not (lxcpath.path / "cc3").exists(), "the failed container is removed"


def test_an_unknown_key_is_one_line_and_makes_nothing(lxcpath: Lxc, tmp_path: Path) -> None:
    cc = _file(tmp_path, "#cloud-config\nhostname: h\npackage_upgrade: true\n")
    out = lxcpath.cli("new", "cc4", "-t", "busybox", "--user-data", str(cc), check=False)
    assert out.returncode != 0
    assert out.stderr.splitlines()[0] == (
        f"error: user-data {cc}: key package_upgrade is not one lxcprov applies "
        "(did you mean 'package_update'?)"
    )
    assert not (lxcpath.path / "cc4").exists()
    # --user-data-lenient: made, the key listed as ignored.
    out = lxcpath.cli("new", "cc4", "-t", "busybox", "--network", "none", "--user-data",
                      str(cc), "--user-data-lenient")  # fmt: skip
    assert "user-data: ignoring package_upgrade (--user-data-lenient)" in out.stderr
    assert _inside(lxcpath, "cc4", "hostname") == "h\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # On busybox lxcprov writes /etc/passwd itself: a ':' would split the shell field.
        ("users: [{name: carol, shell: '/bin/sh:x'}]",
         "users[0].shell: '/bin/sh:x' holds ':': it is a field of the account files"),
        # Written before the boot, hidden by the tmpfs the boot mounts on /run.
        ("write_files: [{path: /etc/ok}, {path: /run/x}]",
         "write_files[1].path: /run/x is under /run, which the boot mounts over: a file "
         "written there is lost"),
    ],
)  # fmt: skip
def test_busybox_refuses_what_would_be_broken_or_lost_making_nothing(
    lxcpath: Lxc, tmp_path: Path, body: str, words: str
) -> None:
    cc = _file(tmp_path, f"#cloud-config\n{body}\n")
    out = lxcpath.cli("new", "cc6", "-t", "busybox", "--user-data", str(cc), check=False)
    assert out.returncode != 0
    assert out.stderr.splitlines()[0] == f"error: user-data {cc}: {words}"
    assert not (lxcpath.path / "cc6").exists()


@pytest.mark.parametrize("phase", ["user-data", "first-boot", "user-data-step-1"])
def test_new_killed_in_its_user_data_phases_leaves_incomplete(
    lxcpath: Lxc, tmp_path: Path, phase: str
) -> None:
    cc = _file(tmp_path, COMMON)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lxcprov", "new", "cc5", "-t", "busybox", "--network", "none",
         "--user-data", str(cc)],
        env=lxcpath.env(LXCPROV_FAULT_AT=phase), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    wait_for_fault(proc, phase, "new", 300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    rows = {r["name"]: r for r in json.loads(lxcpath.cli("ls", "--json").stdout)}
    assert rows["cc5"]["state"] == "INCOMPLETE", rows
    assert "cc5 destroyed" in lxcpath.cli("destroy", "--force", "cc5").stderr
    assert not (lxcpath.path / "cc5").exists()
    # Made again whole afterwards.
    _new(lxcpath, "cc5", "-t", "busybox", "--user-data", str(cc))
    _expected_common(_what_it_made(lxcpath, "cc5"))


@pytest.mark.bases("debian", "cloud-init")
def test_the_same_file_on_both_paths(lxcpath: Lxc, tmp_path: Path) -> None:
    """lxcprov's path (Debian, no cloud-init) and the seed path (Debian with cloud-init:
    lxcprov applies nothing itself, cloud-init does) make the same things from one file."""
    cc = _file(tmp_path, COMMON + "timezone: Europe/Paris\n")
    own = _new(lxcpath, "cc6", "-t", "debian", "--user-data", str(cc))
    seeded = _new(lxcpath, "cc7", "-t", "debian", "--user-data", str(cc), "--",
                  "--packages=cloud-init")  # fmt: skip
    assert "user-data applied by lxcprov (3 first-boot steps)" in own["notes"]  # type: ignore[operator]
    assert "user-data applied by cloud-init (status: done)" in seeded["notes"]  # type: ignore[operator]
    by_lxcprov, by_cloud_init = _what_it_made(lxcpath, "cc6"), _what_it_made(lxcpath, "cc7")
    _expected_common(by_cloud_init)
    assert by_lxcprov == by_cloud_init
    seed = "/var/lib/cloud/seed/nocloud"
    assert _inside(lxcpath, "cc7", f"cat {seed}/user-data") == cc.read_text()
    assert _inside(lxcpath, "cc6", f"test -e {seed} || echo no seed") == "no seed\n"
    assert _inside(lxcpath, "cc7", "cat /var/lib/cloud/data/instance-id").startswith("lxcprov-cc7-")


def test_an_apply_document_takes_user_data(lxcpath: Lxc, tmp_path: Path) -> None:
    """`user_data` in an apply document: a path relative to the document, given to `new`
    when apply creates the container; a bad file is refused with the document's place."""
    _file(tmp_path, COMMON)  # user-data.yaml beside the document
    doc = tmp_path / "site.toml"
    doc.write_text(
        'version = 1\n[containers.cc8]\ntemplate = "busybox"\nbridge = "none"\n'
        'user_data = "user-data.yaml"\n'
    )
    lxcpath.cli("apply", str(doc))
    _expected_common(_what_it_made(lxcpath, "cc8"))
    (tmp_path / "bad.yaml").write_text("#cloud-config\nbootcmd: [reboot]\n")
    doc.write_text(doc.read_text().replace("cc8", "cc9").replace("user-data.yaml", "bad.yaml"))
    out = lxcpath.cli("apply", str(doc), check=False)
    assert out.returncode != 0
    assert "user_data" in out.stderr and "key bootcmd is not one lxcprov applies" in out.stderr
    assert not (lxcpath.path / "cc9").exists()


@pytest.mark.bases("cloud-init")
@pytest.mark.parametrize("ip", ["dhcp", "auto"])
def test_the_seed_says_lxcprovs_network(
    netlab: NetLab, lxcpath: Lxc, password_file: tuple[Path, str], tmp_path: Path, ip: str
) -> None:
    """On a bridge, the seed's network-config is the network lxcprov decided (DHCP, or the
    static address it claimed), and the container keeps that address once cloud-init ran."""
    net = _bridge(netlab, lxcpath, "--no-nat", prefix="c28br")
    cc = _file(tmp_path, "#cloud-config\nruncmd: [touch /root/ran]\n")
    static = ["--ip", "auto"] if ip == "auto" else []
    data = net.new("cc10", password_file[0], "-t", "debian", "--user-data", str(cc), *static,
                   "--", "--packages=cloud-init")  # fmt: skip
    assert "user-data applied by cloud-init (status: done)" in data["notes"]
    (address,) = data["ipv4"]
    seed = json.loads(_inside(lxcpath, "cc10", "cat /var/lib/cloud/seed/nocloud/network-config"))
    eth0 = seed["network"]["ethernets"]["eth0"]
    if ip == "auto":
        assert eth0["dhcp4"] is False and eth0["addresses"][0].split("/")[0] == address
        assert eth0["routes"][0]["via"] == net.gw
    else:
        assert eth0 == {"dhcp4": True}
    assert _inside(lxcpath, "cc10", "hostname -I").split() == [address]
    assert _inside(lxcpath, "cc10", "test -e /root/ran && echo ran") == "ran\n"


def test_two_news_of_one_name_with_user_data_race(lxcpath: Lxc, tmp_path: Path) -> None:
    """Two `new --user-data` of one name at once: one makes it, the other is refused
    (the container's lock), and the first-boot steps ran once, in the one container."""
    cc = _file(tmp_path, COMMON)
    argv = [sys.executable, "-m", "lxcprov", "new", "cc11", "-t", "busybox", "--network",
            "none", "--user-data", str(cc)]  # fmt: skip
    procs = [subprocess.Popen(argv, env=lxcpath.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    results = [(p.wait(300), p.communicate()[1]) for p in procs]
    assert sorted(code for code, _ in results)[0] == 0
    assert sorted(code for code, _ in results)[1] != 0, results
    assert "already exists" in next(err for code, err in results if code != 0)
    _expected_common(_what_it_made(lxcpath, "cc11"))  # runcmd's lines once, not twice
