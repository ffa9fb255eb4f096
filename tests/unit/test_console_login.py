"""The console recipes: the user name is asked at once, and Enter alone asks again.

The name reader is a shell script the getty recipe writes into the container; here it runs
under the host's /bin/sh with login(1) replaced by a stub that prints its arguments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lxcprov.engine.facts import gather
from lxcprov.engine.recipes import Secrets, apply, load_all, plan
from lxcprov.system.rootfs import Rootfs
from tests.trees import TREES, opened

PROMPT_SCRIPT = "/usr/libexec/lxcprov/login-prompt"
GETTY_FLAGS = f"--skip-login --login-program {PROMPT_SCRIPT}"


def _fixed(tmp_path: Path, kind: str) -> Rootfs:
    build, config = TREES[kind]
    root = tmp_path / "rootfs"
    root.mkdir()
    build(root)
    rootfs = opened(root)
    apply(rootfs, plan(rootfs, gather("web1", rootfs, config), load_all(), Secrets()))
    return rootfs


def _service_lines(text: str | None, key: str) -> list[str]:
    assert text is not None
    return [ln for ln in text.splitlines() if ln.startswith(f"{key}=")]


def test_systemd_ttys_and_console_run_the_name_prompt(tmp_path: Path) -> None:
    rootfs = _fixed(tmp_path, "debian-systemd")
    for unit in ("getty@", "console-getty"):
        dropin = rootfs.read_text(f"/etc/systemd/system/{unit}.service.d/lxcprov-container.conf")
        # The distro's ExecStart is cleared, then agetty runs the prompt script.
        starts = _service_lines(dropin, "ExecStart")
        assert starts[0] == "ExecStart=" and len(starts) == 2, starts
        assert GETTY_FLAGS in starts[1] and starts[1].startswith("ExecStart=-/sbin/agetty ")
        # A console comes back however often a person leaves it (30 starts in 10 s, not
        # systemd's 5), and a getty that cannot start still stops after a burst.
        assert _service_lines(dropin, "StartLimitIntervalSec") == ["StartLimitIntervalSec=10s"]
        assert _service_lines(dropin, "StartLimitBurst") == ["StartLimitBurst=30"]
    info = rootfs.info(PROMPT_SCRIPT)
    assert info is not None and info.mode & 0o7777 == 0o755


@pytest.mark.parametrize("kind", ["debian-systemd", "debian-sysvinit"])
def test_one_try_per_login_and_the_distros_line_kept_switched_off(
    tmp_path: Path, kind: str
) -> None:
    rootfs = _fixed(tmp_path, kind)
    text = rootfs.read_text("/etc/login.defs") or ""
    active = [
        ln.split()
        for ln in text.splitlines()
        if ln.split() and ln.split()[0] == "LOGIN_RETRIES" and not ln.startswith("#")
    ]
    assert active == [["LOGIN_RETRIES", "1"]]
    assert "LOGIN_RETRIES\t\t5" in text, "the distro's line is switched off, not deleted"
    assert "\nLOGIN_TIMEOUT\t\t60\n" in text, "login(1)'s own timeout is left as it was"


def test_links_of_ttys_above_the_count_go_and_others_stay(tmp_path: Path) -> None:
    build, config = TREES["debian-systemd"]
    root = tmp_path / "rootfs"
    root.mkdir()
    build(root)
    wants = root / "etc/systemd/system/getty.target.wants"
    for n in (5, 12):  # left by an earlier `set ttys=12`
        (wants / f"getty@tty{n}.service").symlink_to("/usr/lib/systemd/system/getty@.service")
    (wants / "getty@tty7.service").symlink_to("/etc/my-own-getty.service")  # the admin's
    rootfs = opened(root)
    apply(rootfs, plan(rootfs, gather("web1", rootfs, config), load_all(), Secrets()))
    names = sorted(p.name for p in wants.iterdir())
    expected = ["console-getty.service", *(f"getty@tty{n}.service" for n in range(1, 5))]
    assert names == [*expected, "getty@tty7.service"]
    again = plan(rootfs, gather("web1", rootfs, config), load_all(), Secrets())
    assert again.changes == []


def test_busybox_has_no_login_defs_and_gets_none(tmp_path: Path) -> None:
    rootfs = _fixed(tmp_path, "busybox")
    assert rootfs.read_text("/etc/login.defs") is None
    assert rootfs.info(PROMPT_SCRIPT) is None


def _run_prompt(tmp_path: Path, typed: bytes) -> tuple[str, list[str], int]:
    """Run the written script with typed as its terminal input; what it printed, the
    arguments login(1) got ([] when it was not run) and the exit status."""
    rootfs = _fixed(tmp_path, "debian-systemd")
    script = rootfs.read_text(PROMPT_SCRIPT) or ""
    hostname = tmp_path / "hostname"
    hostname.write_text("web1\n")
    stub = tmp_path / "login"
    stub.write_text('#!/bin/sh\necho; printf "LOGIN:%s\\n" "$@"\n')
    stub.chmod(0o755)
    assert script.count("/bin/login") == 1 and "/proc/sys/kernel/hostname" in script
    test_script = tmp_path / "login-prompt"
    test_script.write_text(
        script.replace("/bin/login", str(stub)).replace("/proc/sys/kernel/hostname", str(hostname))
    )
    proc = subprocess.run(
        ["/bin/sh", str(test_script)], input=typed, capture_output=True, timeout=10, check=False
    )
    out = proc.stdout.decode()
    login_args = [ln.removeprefix("LOGIN:") for ln in out.splitlines() if ln.startswith("LOGIN:")]
    return out, login_args, proc.returncode


def test_enter_alone_asks_again_and_a_name_goes_to_login(tmp_path: Path) -> None:
    out, args, status = _run_prompt(tmp_path, b"\n\n   \n root \n")
    assert out.count("web1 login: ") == 4
    assert args == ["-p", "--", "root"]
    assert status == 0


def test_a_name_that_looks_like_an_option_stays_a_name(tmp_path: Path) -> None:
    _out, args, _status = _run_prompt(tmp_path, b"-f root\n")
    assert args == ["-p", "--", "-f root"]


def test_end_of_input_leaves_without_login(tmp_path: Path) -> None:
    out, args, status = _run_prompt(tmp_path, b"")
    assert out == "web1 login: " and args == [] and status == 0


def test_ctrl_alt_del_is_switched_off_under_sysvinit(tmp_path: Path) -> None:
    (tmp_path / "sysv").mkdir()
    sysv = _fixed(tmp_path / "sysv", "debian-sysvinit").read_text("/etc/inittab") or ""
    assert "#lxcprov-off# p6::ctrlaltdel:/sbin/init 6" in sysv.splitlines()
    assert not [ln for ln in sysv.splitlines() if ":ctrlaltdel:" in ln and ln[0] != "#"]


GENERATORS = ("cryptsetup", "integritysetup", "veritysetup", "gpt-auto", "hibernate-resume")


def test_systemd_generators_for_absent_block_devices_are_masked_and_others_kept(
    tmp_path: Path,
) -> None:
    rootfs = _fixed(tmp_path, "debian-systemd")
    for name in GENERATORS:
        link = f"/etc/systemd/system-generators/systemd-{name}-generator"
        assert rootfs.readlink(link) == "/dev/null", link
    masked = set(rootfs.listdir("/etc/systemd/system-generators"))
    for kept in ("fstab", "getty", "sysv", "rc-local", "run", "system-update", "debug"):
        assert f"systemd-{kept}-generator" not in masked


def test_an_admins_own_generator_file_is_left_alone(tmp_path: Path) -> None:
    build, config = TREES["debian-systemd"]
    root = tmp_path / "rootfs"
    root.mkdir()
    build(root)
    own = root / "etc/systemd/system-generators/systemd-cryptsetup-generator"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text("#!/bin/sh\n# the admin's\n")
    rootfs = opened(root)
    apply(rootfs, plan(rootfs, gather("web1", rootfs, config), load_all(), Secrets()))
    assert own.read_text() == "#!/bin/sh\n# the admin's\n"
    assert rootfs.readlink("/etc/systemd/system-generators/systemd-gpt-auto-generator") == (
        "/dev/null"
    )


def test_no_generator_is_masked_without_systemd(tmp_path: Path) -> None:
    rootfs = _fixed(tmp_path, "debian-sysvinit")
    assert rootfs.info("/etc/systemd/system-generators") is None
