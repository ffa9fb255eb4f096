"""The Cockpit page in a real browser: cockpit-ws on a free loopback port serving the plugin
from the repository, a private lxcpath, headless Debian chromium driven by Playwright.

Screenshots of each page go to $LXCPROV_SCREENSHOTS, else to screenshots/ in the test's
tmp dir; the test prints where.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FrameLocator, Page, expect, sync_playwright

from tests.real.cockpit_rig import CHROMIUM, CHROMIUM_ARGS, MARK, CockpitWS, marked
from tests.real.harness import Lxc
from tests.real.hostnet.hostnet_lab import NetLab, free_subnet, gateway

# Beside the packages' tests (tests/real/test_package.py removes cockpit-lxcprov and
# installs it again): in their group under parallel workers (tests/workers.py).
pytestmark = pytest.mark.real
expect.set_options(timeout=20000)

PLUGIN = Path(__file__).resolve().parents[2] / "cockpit" / "lxcprov"
FRAME = 'iframe[name="cockpit1:localhost/lxcprov"]'


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("LXCPROV_SCREENSHOTS") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the Cockpit page: {where}")
    return where


@pytest.fixture
def share(tmp_path: Path) -> Iterator[Path]:
    """A host directory for the page's mount form, under a parent a container can traverse."""
    top = Path("/var/tmp") / f"lxcprov-share-{os.getpid()}-{tmp_path.name}"
    top.mkdir(mode=0o755)
    (top / "data").mkdir(mode=0o755)
    (top / "data" / "hello.txt").write_text("from the host\n")
    try:
        yield top / "data"
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


@contextlib.contextmanager
def _cockpit(lxcpath: Lxc) -> Iterator[CockpitWS]:
    # What the page's spawns see: this lxcpath, this venv's lxcprov first on PATH (and the
    # private LXCPROV_CONFIG_DIR/STATE_DIR the suite sets, through the environment).
    env = {
        "LXCPROV_LXCPATH": str(lxcpath.path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    with CockpitWS(PLUGIN, env) as ws:
        yield ws
    assert not ws.leftovers, f"processes left after cockpit-ws stopped: {ws.leftovers}"


@pytest.fixture
def cockpit(lxcpath: Lxc) -> Iterator[CockpitWS]:
    with _cockpit(lxcpath) as ws:
        yield ws


@pytest.fixture
def net_cockpit(netlab: NetLab, lxcpath: Lxc) -> Iterator[CockpitWS]:
    # After netlab: its config and state directories are in the environment ws inherits.
    with _cockpit(lxcpath) as ws:
        yield ws


@contextlib.contextmanager
def _browser(ws: CockpitWS, console: list[str]) -> Iterator[Page]:
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(ws.tmp / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            # TMPDIR: chromium's org.chromium.Chromium.* scratch goes with the rig's dir.
            args=CHROMIUM_ARGS, env={**os.environ, MARK: ws.token, "TMPDIR": str(ws.tmp)},
            viewport={"width": 1280, "height": 1000},
        )  # fmt: skip
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(20000)
            page.on("console", lambda m: console.append(f"{m.type} {m.location['url']}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror lxcprov/: {e}"))
            yield page
        finally:
            ctx.close()


def _plugin_errors(console: list[str]) -> list[str]:
    # The shell's own pages warn here (no systemd, no system D-Bus): only the plugin counts.
    return [m for m in console if "/lxcprov/" in m and not m.startswith(("debug", "log", "info"))]


def _rows(frame: FrameLocator) -> list[str]:
    return [t.strip() for t in frame.locator(".xterm-rows > div").all_text_contents()]


def _type(page: Page, text: str) -> None:
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_the_page_lists_creates_edits_logs_in_and_destroys(
    lxcpath: Lxc, password_file: tuple[Path, str], cockpit: CockpitWS, shots: Path, share: Path
) -> None:
    pw_path, password = password_file
    lxcpath.cli("new", "cli1", "-t", "busybox", "--network", "none",
                "--root-password-file", str(pw_path))  # fmt: skip
    # A finding for doctor's Fix button: the container's hostname file says something else.
    assert lxcpath.attach("cli1", "sh", "-c", "echo other > /etc/hostname").returncode == 0
    timings: dict[str, float] = {"cockpit-ws answers": cockpit.startup}
    console: list[str] = []
    t_start = time.monotonic()
    with _browser(cockpit, console) as page:
        _drive(page, cockpit.url, lxcpath, password, shots, timings, share)
    timings["whole browser session"] = time.monotonic() - t_start
    for what, seconds in timings.items():
        print(f"  {what:<42} {seconds:6.2f} s")
    assert not _plugin_errors(console)
    assert "web1" not in lxcpath.names()


def test_the_network_page_sets_up_a_first_bridge_and_the_list_shows_a_lease(
    lxcpath: Lxc,
    netlab: NetLab,
    password_file: tuple[Path, str],
    net_cockpit: CockpitWS,
    shots: Path,
) -> None:
    # A bridge of the test's own, in a subnet no host route covers, with DHCP and no NAT
    # (a test never masquerades through the machine's real uplink).
    bridge, subnet = netlab.bridge(), free_subnet()
    console: list[str] = []
    with _browser(net_cockpit, console) as page:
        page.goto(net_cockpit.url + "/lxcprov#/network")
        frame = page.frame_locator(FRAME)
        expect(frame.locator("#net-status")).to_contain_text("not set up by lxcprov")
        net = frame.locator("#page-network")
        net.get_by_label("Bridge", exact=True).fill(bridge)
        net.get_by_label("Address", exact=True).fill(gateway(subnet))
        net.get_by_label("NAT out of the default route's interface").uncheck()
        net.get_by_role("button", name="Set up").click()
        expect(frame.locator("#net-result")).to_contain_text(f"{bridge} {gateway(subnet)}")
        status = frame.locator("#net-status")
        expect(status).to_contain_text(f"{bridge} (default), set up by lxcprov")
        expect(status).to_contain_text("dnsmasq, pid")
        expect(status).to_contain_text(str(subnet.network_address + 128))  # the DHCP range
        page.screenshot(path=shots / "11-network-set-up.png", full_page=True)

        # Create with DHCP on the default bridge: the list shows its lease when it comes.
        frame.get_by_role("link", name="Create").click()
        form = frame.locator("#page-new")
        form.get_by_label("Template", exact=True).select_option("busybox")
        form.get_by_label("Name", exact=True).fill("dhcp1")
        form.get_by_label("Root password", exact=True).fill(password_file[1])
        form.get_by_label("Bridge, address by DHCP").check()
        expect(frame.locator("#new-check")).to_have_attribute("data-state", "ok")
        frame.get_by_role("button", name="Create").click()
        expect(frame.locator("#new-result")).to_contain_text("dhcp1 is RUNNING", timeout=180000)
        frame.get_by_role("link", name="Containers", exact=True).click()
        row = frame.locator('#list-rows tr[data-name="dhcp1"]')
        expect(row).to_contain_text(re.compile(re.escape(str(subnet)[: -len("0/24")]) + r"\d+"))
        page.screenshot(path=shots / "12-list-with-lease.png")
        listed = json.loads(lxcpath.cli("ls", "--json").stdout)
        ipv4 = next(r["ipv4"][0] for r in listed if r["name"] == "dhcp1")
        expect(row).to_contain_text(ipv4)
        frame.get_by_role("link", name="Network").click()
        expect(frame.locator("#net-leases")).to_contain_text(ipv4)  # busybox sends no name

        # A published port on dhcp1's page: listed as lxcprov lists it, then taken away.
        page.goto(net_cockpit.url + "/lxcprov#/container/dhcp1")
        ct = frame.locator("#page-container")
        expect(frame.locator("#ct-ports-empty")).to_be_visible()
        ct.get_by_label("Host port").fill("127.0.0.1:18081")
        ct.get_by_label("Container port").fill("80")
        ct.get_by_role("button", name="Publish").click()
        expect(frame.locator("#ct-ports-alerts")).to_contain_text("127.0.0.1:18081/tcp -> 80")
        expect(frame.locator('#ct-ports tr[data-port="127.0.0.1:18081/tcp"]')).to_be_visible()
        listed_ports = json.loads(lxcpath.cli("forward", "ls", "dhcp1", "--json").stdout)
        assert [(f["host_addr"], f["host_port"], f["container_port"], f["address"])
                for f in listed_ports] == [("127.0.0.1", 18081, 80, ipv4)]  # fmt: skip
        page.screenshot(path=shots / "13-published-port.png", full_page=True)
        ct.get_by_role("button", name="Unpublish 127.0.0.1:18081/tcp").click()
        expect(frame.locator("#ct-ports-empty")).to_be_visible()
        assert json.loads(lxcpath.cli("forward", "ls", "dhcp1", "--json").stdout) == []
    assert not _plugin_errors(console)


def _snapshots_mounts_ports(
    page: Page, frame: FrameLocator, lxcpath: Lxc, share: Path, shots: Path
) -> None:
    """On web1's page (running, no network): snapshot, restore, delete; mount, unmount; a
    port it cannot publish, refused in lxcprov's words."""
    ct = frame.locator("#page-container")
    expect(frame.locator("#ct-snaps-empty")).to_be_visible()
    ct.get_by_label("New snapshot").fill("s1")
    ct.get_by_role("button", name="Take snapshot").click()
    expect(frame.locator("#ct-snaps-alerts")).to_contain_text("Snapshot s1 taken")
    expect(frame.locator('#ct-snaps tr[data-snapshot="s1"]')).to_be_visible()
    assert [s["name"] for s in json.loads(lxcpath.cli("snapshots", "web1", "--json").stdout)] == [
        "s1"
    ]
    # A change after the snapshot; Restore asks, stops web1 and puts s1's files back.
    assert lxcpath.attach("web1", "touch", "/root/after-s1").returncode == 0
    ct.get_by_role("button", name="Restore snapshot s1").click()
    dialog = frame.get_by_role("alertdialog", name="Restore web1 to s1?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.screenshot(path=shots / "6a-restore-confirm.png")
    dialog.get_by_role("button", name="Restore").click()
    expect(frame.locator("#ct-snaps-alerts")).to_contain_text("web1 restored to s1", timeout=60000)
    # Stopped for the restore, and running again as it was before.
    expect(frame.locator("#ct-snaps-alerts")).to_contain_text("was stopped for it and runs again")
    expect(frame.locator('#ct-state[data-state="RUNNING"]')).to_be_visible(timeout=60000)
    assert lxcpath.attach("web1", "test", "-e", "/root/after-s1").returncode == 1
    # Delete asks too, and leaves no snapshot.
    ct.get_by_role("button", name="Delete snapshot s1").click()
    frame.get_by_role("alertdialog", name="Delete snapshot s1?").get_by_role(
        "button", name="Delete"
    ).click()
    expect(frame.locator("#ct-snaps-empty")).to_be_visible()
    assert json.loads(lxcpath.cli("snapshots", "web1", "--json").stdout) == []

    # A host directory, mounted at once into the running container, read-only.
    ct.get_by_label("Host directory", exact=True).fill(str(share))
    ct.get_by_label("Inside", exact=True).fill("/mnt/host")
    ct.get_by_label("Read-only").check()
    ct.get_by_role("button", name="Mount", exact=True).click()
    expect(frame.locator("#ct-mounts-alerts")).to_contain_text(f"{share} at /mnt/host: changed")
    row = frame.locator('#ct-mounts tr[data-mount="/mnt/host"]')
    expect(row).to_contain_text("read-only")
    assert lxcpath.attach("web1", "cat", "/mnt/host/hello.txt").stdout == "from the host\n"
    assert lxcpath.attach("web1", "touch", "/mnt/host/new").returncode != 0
    page.screenshot(path=shots / "6b-mounts.png", full_page=True)
    ct.get_by_role("button", name="Unmount /mnt/host").click()
    expect(frame.locator("#ct-mounts-empty")).to_be_visible()
    assert json.loads(lxcpath.cli("mount", "ls", "web1", "--json").stdout) == []
    assert lxcpath.attach("web1", "test", "-e", "/mnt/host/hello.txt").returncode == 1

    # web1 has no network: publishing a port is refused with lxcprov's message and hint.
    ct.get_by_label("Host port").fill("18080")
    ct.get_by_label("Container port").fill("80")
    ct.get_by_role("button", name="Publish").click()
    alerts = frame.locator("#ct-ports-alerts")
    expect(alerts).to_contain_text("web1 has no network")
    expect(alerts).to_contain_text("hint: lxcprov set web1 bridge=BRIDGE")
    expect(frame.locator("#ct-ports-empty")).to_be_visible()


def _devices(page: Page, frame: FrameLocator, lxcpath: Lxc, shots: Path) -> None:
    """On web1's page (running): a device `device add` gave is listed, one given by the
    page's field is in the container at once, Remove takes each away; a wrong name is
    refused in lxcprov's words."""
    ct = frame.locator("#page-container")
    expect(frame.locator("#ct-devices-empty")).to_be_visible()
    assert lxcpath.attach("web1", "test", "-e", "/dev/fuse").returncode == 1
    lxcpath.cli("device", "add", "web1", "tun")
    ct.get_by_label("Device", exact=True).fill("fuse")
    ct.get_by_role("button", name="Add device").click()
    expect(frame.locator("#ct-devices-alerts")).to_contain_text(
        "fuse (/dev/fuse): changed (in the running container)"
    )
    tun = frame.locator('#ct-devices tr[data-device="/dev/net/tun"]')
    expect(tun).to_contain_text("char 10:200, mode 0660")
    expect(frame.locator('#ct-devices tr[data-device="/dev/fuse"]')).to_be_visible()
    assert lxcpath.attach("web1", "test", "-c", "/dev/fuse").returncode == 0
    frame.locator("#ct-settings-title").scroll_into_view_if_needed()
    page.screenshot(path=shots / "6c-devices.png", full_page=True)
    ct.get_by_role("button", name="Remove /dev/net/tun").click()
    expect(tun).to_have_count(0)
    expect(frame.locator("#ct-devices-alerts")).to_contain_text("/dev/net/tun removed: removed")
    listed = json.loads(lxcpath.cli("device", "ls", "web1", "--json").stdout)
    assert [d["path"] for d in listed] == ["/dev/fuse"]
    assert lxcpath.attach("web1", "test", "-e", "/dev/net/tun").returncode == 1
    ct.get_by_role("button", name="Remove /dev/fuse").click()
    expect(frame.locator("#ct-devices-empty")).to_be_visible()
    assert json.loads(lxcpath.cli("device", "ls", "web1", "--json").stdout) == []
    ct.get_by_label("Device", exact=True).fill("tunn")
    ct.get_by_role("button", name="Add device").click()
    expect(frame.locator("#ct-devices-alerts")).to_contain_text("'tunn': no such device name")
    expect(frame.locator("#ct-devices-empty")).to_be_visible()


def _drive(
    page: Page,
    url: str,
    lxcpath: Lxc,
    password: str,
    shots: Path,
    timings: dict[str, float],
    share: Path,
) -> None:
    # The shell's menu has the entry; the list shows the container the CLI made, live.
    t0 = time.monotonic()
    page.goto(url + "/")
    page.get_by_role("link", name="Containers (LXC)").click()
    frame = page.frame_locator(FRAME)
    cli1 = frame.locator('#list-rows tr[data-name="cli1"]')
    expect(cli1.locator('[data-state="RUNNING"]')).to_be_visible()
    timings["shell to live list with cli1"] = time.monotonic() - t0
    expect(frame.get_by_role("table", name="Containers")).to_be_visible()
    page.screenshot(path=shots / "1-list.png")

    # Doctor's finding on cli1, with why, and its Fix button.
    cli1.get_by_role("link", name="cli1").click()
    finding = frame.locator('[data-finding="hostname-mismatch"]')
    expect(finding).to_contain_text("Why:")
    page.screenshot(path=shots / "2-container-doctor.png", full_page=True)
    finding.get_by_role("button", name=re.compile("^Fix")).click()
    expect(frame.locator("#ct-doctor")).to_contain_text("Fix applied")
    expect(finding).to_have_count(0)
    assert lxcpath.attach("cli1", "cat", "/etc/hostname").stdout == "cli1\n"

    # Create: the form checks as one types, shows the one-line command, then makes it.
    frame.get_by_role("link", name="Create").click()
    frame.get_by_label("Template", exact=True).select_option("busybox")
    frame.get_by_label("Name", exact=True).fill("web1")
    frame.get_by_label("Root password", exact=True).fill(password)
    frame.get_by_label("None (loopback only)").check()
    frame.get_by_label("Memory limit", exact=True).fill("12x")
    check = frame.locator("#new-check")
    expect(check).to_have_attribute("data-state", "error")
    expect(check).to_contain_text("memory=12x: not a size")
    expect(frame.get_by_role("button", name="Create")).to_be_disabled()
    frame.get_by_label("Memory limit", exact=True).fill("128M")
    expect(check).to_have_attribute("data-state", "ok")
    expect(frame.locator("#new-command")).to_have_text(
        "lxcprov new web1 --template busybox --network none "
        "--root-password-file PASSWORD_FILE --memory 128M"
    )
    page.screenshot(path=shots / "3-create.png", full_page=True)
    t0 = time.monotonic()
    frame.locator("#new-check").scroll_into_view_if_needed()
    page.screenshot(path=shots / "3-create-bottom.png")
    frame.get_by_role("button", name="Create").click()
    expect(frame.locator("#new-result")).to_contain_text("web1 is RUNNING", timeout=180000)
    timings["create busybox on the page"] = time.monotonic() - t0
    expect(frame.locator("#new-phases li").first).to_be_visible()
    frame.locator("#new-result").scroll_into_view_if_needed()
    page.screenshot(path=shots / "4-created.png")

    # The container page: memory changed in place is what `lxcprov show` says.
    frame.get_by_role("link", name="Open web1").click()
    memory = frame.locator('[data-setting="memory"]')
    expect(memory.locator(".lx-value")).to_have_text("128M")
    memory.get_by_role("button", name="Edit Memory limit").click()
    edit = memory.get_by_role("textbox")
    expect(edit).to_be_focused()
    edit.fill("96M")
    edit.press("Enter")
    expect(frame.locator("#ct-alerts")).to_contain_text("memory = 96M: changed")
    expect(memory.locator(".lx-value")).to_have_text("96M")
    shown = json.loads(lxcpath.cli("show", "web1", "--json").stdout)
    assert shown["settings"]["memory"] == "96M"
    page.screenshot(path=shots / "5-container.png", full_page=True)
    # A setting that takes effect at the next start says so, next to its value.
    host = frame.locator('[data-setting="hostname"]')
    host.get_by_role("button", name="Edit Host name").click()
    host.get_by_role("textbox").fill("web1-renamed")
    host.get_by_role("button", name="Save Host name").click()
    expect(host.locator(".lx-value")).to_have_text("web1-renamed")
    expect(host).to_contain_text("needs restart")
    expect(frame.locator("#ct-alerts")).to_contain_text("needs restart")
    # nesting is a yes/no choice; it too waits for the next start.
    nest = frame.locator('[data-setting="nesting"]')
    expect(nest.locator(".lx-value")).to_have_text("no")
    nest.get_by_role("button", name="Edit Nesting (Docker, Podman inside)").click()
    nest.get_by_role("combobox").select_option("yes")
    nest.get_by_role("button", name="Save Nesting (Docker, Podman inside)").click()
    expect(nest.locator(".lx-value")).to_have_text("yes")
    expect(nest).to_contain_text("needs restart")
    assert json.loads(lxcpath.cli("show", "web1", "--json").stdout)["settings"]["nesting"] == "yes"
    # A disk limit: none yet; added to a running container it is lxcprov's refusal, shown.
    disk = frame.locator('[data-setting="disk"]')
    expect(disk.locator(".lx-value")).to_have_text("none")
    disk.get_by_role("button", name="Edit Disk limit").click()
    disk.get_by_role("textbox").fill("64M")
    disk.get_by_role("button", name="Save Disk limit").click()
    expect(disk).to_contain_text("stop it first")
    assert json.loads(lxcpath.cli("show", "web1", "--json").stdout)["settings"]["disk"] == "none"

    # The console: a pty running `lxcprov console web1`, where root logs in.
    t0 = time.monotonic()
    frame.get_by_role("button", name="Open console").click()
    expect(frame.locator("#ct-console-state")).to_contain_text("connected to web1")
    frame.locator(".xterm").click()
    rows = frame.locator(".xterm-rows > div")
    login = rows.filter(has_text=re.compile(r"login:\s*$")).first
    for _ in range(20):  # getty printed its prompt before we attached: Enter asks again
        page.keyboard.press("Enter")
        with contextlib.suppress(AssertionError):
            expect(login).to_be_visible(timeout=1000)
            break
    expect(login).to_be_visible()
    _type(page, "root")
    expect(rows.filter(has_text=re.compile(r"Password:\s*$")).first).to_be_visible()
    _type(page, password)
    expect(rows.filter(has_text=re.compile(r"#\s*$")).first).to_be_visible()  # root's prompt
    _type(page, "echo ok-$((40+2))")
    expect(rows.get_by_text("ok-42", exact=True)).to_have_count(1)
    timings["console: open, log in, run a command"] = time.monotonic() - t0
    frame.locator(".xterm").scroll_into_view_if_needed()
    page.screenshot(path=shots / "6-console.png")
    _type(page, "exit")
    frame.get_by_role("button", name="Disconnect").click()
    expect(frame.locator("#ct-console-state")).to_contain_text("disconnected")
    assert not [r for r in _rows(frame) if "incorrect" in r.lower()]

    _snapshots_mounts_ports(page, frame, lxcpath, share, shots)
    _devices(page, frame, lxcpath, shots)

    # Dark, as the shell's Style menu or the system's preference makes it.
    page.emulate_media(color_scheme="dark")
    expect(frame.locator("html")).to_have_class(re.compile("pf-theme-dark"))
    page.screenshot(path=shots / "7-container-dark.png", full_page=True)
    page.emulate_media(color_scheme="light")
    expect(frame.locator("html")).not_to_have_class(re.compile("pf-theme-dark"))

    # Network: net status of this host's default bridge, and the form for a first one.
    frame.get_by_role("link", name="Network").click()
    expect(frame.locator("#net-status")).to_contain_text("Bridge")
    expect(frame.get_by_role("button", name="Set up")).to_be_visible()
    page.screenshot(path=shots / "8-network.png", full_page=True)

    # Stop from the list: the list follows by itself.
    frame.get_by_role("link", name="Containers", exact=True).click()
    t0 = time.monotonic()
    frame.get_by_role("button", name="Stop cli1").click()
    expect(cli1.locator('[data-state="STOPPED"]')).to_be_visible(timeout=60000)
    timings["Stop in the list until STOPPED shows"] = time.monotonic() - t0

    # Destroy asks first; Escape (the keyboard) cancels, the dialog's Destroy confirms.
    web1 = frame.locator('#list-rows tr[data-name="web1"]')
    web1.get_by_role("button", name="Destroy web1").click()
    dialog = frame.get_by_role("alertdialog", name="Destroy web1?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.screenshot(path=shots / "9-destroy-confirm.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert "web1" in lxcpath.names()
    web1.get_by_role("button", name="Destroy web1").click()
    t0 = time.monotonic()
    dialog.get_by_role("button", name="Destroy").click()
    expect(web1).to_have_count(0, timeout=60000)
    timings["Destroy (running) until the row is gone"] = time.monotonic() - t0
    expect(frame.locator("#list-alerts")).to_contain_text("web1 destroyed")
    assert [r["name"] for r in json.loads(lxcpath.cli("ls", "--json").stdout)] == ["cli1"]
    page.screenshot(path=shots / "10-list-after.png")


# A polyline's points: at least two "x,y" pairs.
TWO_POINTS = re.compile(r"^\d+(\.\d+)?,\d+(\.\d+)?( \d+(\.\d+)?,\d+(\.\d+)?)+$")
A_SIZE = re.compile(r"^\d+(\.\d)? (KiB|MiB|GiB)$")


def _stats_watchers(ws: CockpitWS) -> dict[int, list[str]]:
    """The `lxcprov stats --json --watch` processes the page runs (they carry the rig's
    marker, so another session's are not counted): pid -> their arguments after `stats`."""
    found = {}
    for pid in marked(ws.token):
        with contextlib.suppress(OSError):
            argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
            if "stats" in argv and "--watch" in argv and "--json" in argv:
                found[pid] = argv[argv.index("stats") + 1 : -1]  # cmdline ends with a NUL
    return found


def _until(what: str, check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_the_container_page_graphs_cpu_and_memory_from_one_stats_process(
    lxcpath: Lxc, password_file: tuple[Path, str], cockpit: CockpitWS, shots: Path
) -> None:
    pw = str(password_file[0])
    lxcpath.cli("new", "g1", "-t", "busybox", "--network", "none", "--root-password-file", pw,
                "--memory", "64M")  # fmt: skip
    lxcpath.cli("new", "g2", "-t", "busybox", "--network", "none", "--root-password-file", pw)
    lxcpath.cli("stop", "g2")
    g1_args = ["--json", "--watch", "--interval", "2", "g1"]
    console: list[str] = []
    with _browser(cockpit, console) as page:
        page.goto(cockpit.url + "/lxcprov#/container/g1")
        frame = page.frame_locator(FRAME)
        cpu, mem = frame.locator("#ct-cpu-graph"), frame.locator("#ct-mem-graph")
        # Points come from the stream's lines (the first line has no CPU% yet).
        expect(cpu.locator(".lx-graph-line")).to_have_attribute("points", TWO_POINTS)
        expect(mem.locator(".lx-graph-line")).to_have_attribute("points", TWO_POINTS)
        expect(frame.locator("#ct-cpu-now")).to_have_text(re.compile(r"^\d+\.\d%$"))
        expect(frame.locator("#ct-mem-now")).to_have_text(A_SIZE)
        expect(frame.locator("#ct-mem-of")).to_have_text("used, of a 64.0 MiB limit")
        expect(mem.locator(".lx-graph-limit")).to_have_attribute("visibility", "visible")
        expect(frame.locator("#ct-usage-off")).to_be_hidden()
        page.screenshot(path=shots / "14-usage-graphs.png")
        # One process for the page, whatever the number of lines it printed.
        watchers = _stats_watchers(cockpit)
        assert list(watchers.values()) == [g1_args], watchers

        # Hostile lines through the page's own handler: garbage is skipped and said; values
        # that are not numbers are not shown, and nothing from a line becomes HTML.
        plugin = page.frame(name="cockpit1:localhost/lxcprov")
        assert plugin is not None
        said = plugin.evaluate(
            """() => {
                usage.watch.line("{not json");
                const garbage = document.getElementById("ct-usage-alerts").textContent;
                const before = document.getElementById("ct-cpu-now").textContent;
                usage.watch.line(JSON.stringify([{ name: "g1", state: "RUNNING",
                    cpu: { percent: "<img src=x id=pwn1>" },
                    memory: { used: "<b id=pwn2>1</b>", limit: -5 } }]));
                return { garbage, before, after: document.getElementById("ct-cpu-now").textContent,
                         html: document.querySelectorAll("#pwn1, #pwn2").length,
                         of: document.getElementById("ct-mem-of").textContent };
            }"""
        )
        assert "not its JSON list: skipped" in said["garbage"], said
        assert said["after"] == said["before"] and said["html"] == 0, said
        assert said["of"] == "used (no limit)", said  # -5 is no limit lxcprov would print

        # The process dies: the page says so, starts another, and the graphs go on.
        (pid,) = watchers
        os.kill(pid, signal.SIGKILL)  # the page's own process: it carries our marker
        expect(frame.locator("#ct-usage-alerts")).to_contain_text("Usage is not live")
        _until("a new stats process", lambda: list(_stats_watchers(cockpit).values()) == [g1_args]
               and pid not in _stats_watchers(cockpit))  # fmt: skip
        expect(frame.locator("#ct-usage-alerts")).to_be_empty()
        expect(frame.locator("#ct-mem-of")).to_have_text("used, of a 64.0 MiB limit")

        # Another of Cockpit's pages: the shell keeps our frame, hidden; its process goes,
        # and comes back with the page.
        page.get_by_role("link", name="Overview").click()
        _until("no stats process while the shell shows another page",
               lambda: not _stats_watchers(cockpit))  # fmt: skip
        page.get_by_role("link", name="Containers (LXC)").click()
        _until("g1's stats process again", lambda: list(_stats_watchers(cockpit).values())
               == [g1_args])  # fmt: skip
        expect(mem.locator(".lx-graph-line")).to_have_attribute("points", TWO_POINTS)

        # Leaving the page closes its process; the list runs one of its own for every row.
        frame.get_by_role("link", name="All containers").click()
        row1 = frame.locator('#list-rows tr[data-name="g1"]')
        expect(row1.locator('td[data-label="Memory used"]')).to_have_text(A_SIZE)
        expect(
            frame.locator('#list-rows tr[data-name="g2"] td[data-label="Memory used"]')
        ).to_have_text("-")
        list_args = ["--json", "--watch", "--interval", "5", "--no-disk"]
        _until("the list's one stats process and no other",
               lambda: list(_stats_watchers(cockpit).values()) == [list_args])  # fmt: skip
        page.screenshot(path=shots / "15-list-memory-used.png")

        # A stopped container's page: no graphs, no process; started, its graphs come.
        frame.get_by_role("link", name="g2", exact=True).click()
        expect(frame.locator("#ct-usage-off")).to_contain_text("Not running (STOPPED)")
        expect(frame.locator("#ct-usage-graphs")).to_be_hidden()
        _until("no stats process for a stopped container", lambda: not _stats_watchers(cockpit))
        frame.locator("#ct-start").click()
        expect(frame.locator("#ct-alerts")).to_contain_text("g2 is RUNNING", timeout=60000)
        expect(frame.locator("#ct-mem-graph .lx-graph-line")).to_have_attribute(
            "points", TWO_POINTS
        )
        _until("one stats process for g2", lambda: list(_stats_watchers(cockpit).values())
               == [["--json", "--watch", "--interval", "2", "g2"]])  # fmt: skip
        frame.locator("#ct-stop").click()
        expect(frame.locator("#ct-usage-off")).to_contain_text(
            "Not running (STOPPED)", timeout=60000
        )
        _until("no stats process once g2 stopped", lambda: not _stats_watchers(cockpit))
    assert not _plugin_errors(console)
