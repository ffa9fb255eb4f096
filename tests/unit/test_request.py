"""NewRequest.argv(): the one way a request becomes a command again (batch, guided)."""

from __future__ import annotations

from pathlib import Path

from lxcprov.ops.access import Access
from lxcprov.ops.batch import child_argv
from lxcprov.ops.request import NewRequest


def test_argv_round_trips_every_option() -> None:
    req = NewRequest(
        name="web1",
        template="debian",
        lxcpath=Path("/srv/lxc"),
        release="trixie",
        template_args=["--packages=sysvinit-core"],
        bridge="br9",
        ip="auto",
        access=Access(Path("/pw"), [Path("/k1.pub"), Path("/k2.pub")]),
        only=["hostname"],
        skip=[],
        start=False,
        keep_on_failure=True,
        use_base=False,
        settings={"memory": "512M", "cpu-weight": "200"},
    )
    argv = req.argv(extra=("--json",))
    assert argv[:4] == ["new", "web1", "--template", "debian"]
    assert argv[-2:] == ["--", "--packages=sysvinit-core"]
    assert argv.index("--json") < argv.index("--")
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert pairs["--release"] == "trixie" and pairs["--bridge"] == "br9"
    assert pairs["--ip"] == "auto" and pairs["--memory"] == "512M"
    assert pairs["--cpu-weight"] == "200" and pairs["--recipe"] == "hostname"
    assert argv.count("--ssh-key") == 2
    for flag in ("--no-start", "--keep-on-failure", "--no-base"):
        assert flag in argv
    shown = req.argv(password_file="PASSWORD_FILE")
    assert shown[shown.index("--root-password-file") + 1] == "PASSWORD_FILE"


def test_child_argv_reports_in_json() -> None:
    req = NewRequest(name="c1", template="busybox", lxcpath=Path("/p"), network="none")
    argv = child_argv(req)
    assert argv[1:7] == ["-I", "-m", "lxcprov", "--lxcpath", "/p", "new"]
    assert "--json" in argv and argv[argv.index("--network") + 1] == "none"
