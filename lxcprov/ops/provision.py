"""The whole capabilities behind `new` and `fix`: create, plan and apply recipes, start, wait.

The CLI calls these and renders what they return; progress is reported through a
callback so the same code serves a terminal, --json and tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.engine import distros, recipes
from lxcprov.engine.facts import Facts, gather
from lxcprov.engine.recipes import Plan, Secrets
from lxcprov.engine.recipes.actions import parse_public_keys
from lxcprov.errors import (
    ContainerExistsError,
    InvalidArgumentError,
    LxcprovError,
    NetworkError,
    NotRootError,
)
from lxcprov.ops import bases
from lxcprov.system import hostnet, lxc, netintent
from lxcprov.system.netintent import NetIntent, parse_ip
from lxcprov.system.passwords import generate_password
from lxcprov.system.rootfs import Rootfs

# Seconds to wait for a login prompt after start; a Debian boot takes 1-3 s here.
DEFAULT_BOOT_TIMEOUT = 90.0


def require_root() -> None:
    """Root and a working LXC: checked before anything is done."""
    if os.geteuid() != 0:
        raise NotRootError("lxcprov needs root to manage containers")
    lxc.require_tools()


@dataclass
class Progress:
    """Callbacks for long work: a phase starts; the template printed a line."""

    phase: Callable[[str], None] = lambda _msg: None
    line: Callable[[str], None] = lambda _line: None


@dataclass
class Access:
    """Root access the user asked for (file paths are read here, secrets kept in memory)."""

    password_file: Path | None = None
    ssh_key_files: list[Path] = field(default_factory=list)

    def secrets(self) -> Secrets:
        password = None
        if self.password_file is not None:
            try:
                text = self.password_file.read_text()
            except OSError as exc:
                raise InvalidArgumentError(
                    f"cannot read {self.password_file}: {exc.strerror}"
                ) from None
            password = text.splitlines()[0] if text.strip() else ""
            if not password:
                raise InvalidArgumentError(f"{self.password_file} is empty")
        keys: list[str] = []
        for key_file in self.ssh_key_files:
            try:
                keys += parse_public_keys(key_file.read_text(), str(key_file))
            except OSError as exc:
                raise InvalidArgumentError(f"cannot read {key_file}: {exc.strerror}") from None
        return Secrets(root_password=password, ssh_keys=keys)

    @property
    def given(self) -> bool:
        return self.password_file is not None or bool(self.ssh_key_files)


@dataclass
class Outcome:
    container: lxc.Container
    facts: Facts | None = None
    plan: Plan | None = None
    applied: int = 0
    started: bool = False
    login_tty: int | None = None
    generated_password: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    network: NetIntent = field(default_factory=NetIntent)
    ipv4: list[str] = field(default_factory=list)
    base: str | None = None
    clone_method: str | None = None


def _host_nameservers() -> str:
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""
    servers = [
        ln.split()[1]
        for ln in text.splitlines()
        if ln.startswith("nameserver")
        and len(ln.split()) > 1
        and not ln.split()[1].startswith("127.")
    ]
    return servers[0] if servers else ""


def plan_network(
    name: str, lxcpath: Path, network: str, bridge: str | None, ip: str | None, progress: Progress
) -> tuple[NetIntent, dict[str, str]]:
    """Decide the container's network and its lxc.net.0.* keys (never from default.conf).

    May restore a configured bridge that is absent (after a reboot) and may record a
    static address in the bridge's address book; the caller releases it on failure.
    """
    if network == "none":
        if ip is not None:
            raise InvalidArgumentError("--ip needs a network", hint="drop --network none")
        # `empty` gives the container its own network namespace with only loopback.
        return NetIntent(), {"lxc.net.0.type": "empty"}
    if network != "bridge":
        raise InvalidArgumentError(f"unknown network mode {network!r}", hint="use bridge or none")
    bridge = bridge or hostnet.default_bridge() or hostnet.settings.DEFAULT_BRIDGE
    saved = hostnet.load_settings(bridge)
    state = hostnet.bridge_state(bridge)
    if state is None and saved is not None:
        progress.phase(
            f"bridge {bridge} is configured but absent: restoring it (lxcprov net setup)"
        )
        hostnet.setup(bridge)
        state = hostnet.bridge_state(bridge)
    if state is None:
        flag = "" if bridge == hostnet.settings.DEFAULT_BRIDGE else f" --bridge {bridge}"
        raise NetworkError(
            f"bridge {bridge!r} does not exist, so the container could not start",
            hint=f"create it with: lxcprov net setup{flag}"
            " (or use --network none for a container without network)",
        )
    if not state.is_bridge:
        raise NetworkError(f"{bridge!r} is not a bridge", hint="name a bridge with --bridge")
    owner = f"{name}@{lxcpath}"
    gateway = saved.ipv4 if saved is not None else (state.ipv4[0] if state.ipv4 else None)
    if ip is None:
        if saved is not None and not saved.dhcp:
            raise NetworkError(
                f"bridge {bridge!r} has no DHCP server: the container would wait for a lease",
                hint=f"give it an address with --ip auto (or --ip ADDR), or: "
                f"lxcprov net setup --bridge {bridge} --dhcp",
            )
        intent = NetIntent("dhcp", bridge, owner=owner)
    else:
        if gateway is None:
            raise NetworkError(
                f"bridge {bridge!r} has no IPv4 address to use as the gateway",
                hint=f"set one up with: lxcprov net setup --bridge {bridge}",
            )
        if ip == "auto":
            if saved is None:
                raise NetworkError(
                    f"--ip auto needs a bridge managed by lxcprov; {bridge!r} is not",
                    hint=f"lxcprov net setup --bridge {bridge}, or give --ip ADDR/PREFIX",
                )
            address = hostnet.allocate_address(bridge, owner)
        else:
            address = parse_ip(ip, gateway)
            if saved is not None:
                address = hostnet.reserve_address(bridge, owner, address)
        dns = str(gateway.ip) if saved is not None and hostnet.status(bridge).dns else ""
        intent = NetIntent(
            "static", bridge, str(address), str(gateway.ip), dns or _host_nameservers(), owner
        )
    keys = {
        "lxc.net.0.type": "veth",
        "lxc.net.0.link": bridge,
        "lxc.net.0.flags": "up",
        "lxc.net.0.name": "eth0",
        "lxc.net.0.hwaddr": random_mac(),
    }
    return intent, keys


def config_text(keys: dict[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in keys.items())


def release_network(intent: NetIntent) -> None:
    """Give a static address back to the bridge's address book."""
    if intent.mode == "static" and intent.owner and hostnet.load_settings(intent.bridge):
        hostnet.release_address(intent.bridge, intent.owner)


def random_mac() -> str:
    # 00:16:3e is the prefix LXC's own templates use for containers.
    tail = os.urandom(3)
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def intent_of(container: lxc.Container) -> NetIntent:
    return netintent.load(container.lxcpath / container.name, container.config())


@contextlib.contextmanager
def opened(container: lxc.Container) -> Iterator[tuple[Rootfs, Facts]]:
    """The container's rootfs (mounted, for a snapshot clone) and its facts, in the block."""
    config = container.config()
    net = netintent.load(container.lxcpath / container.name, config)
    with container.mounted_rootfs() as root:
        rootfs = Rootfs(root)
        yield rootfs, gather(container.name, rootfs, config, net)


def facts_of(container: lxc.Container) -> Facts:
    with opened(container) as (_, facts):
        return facts


def run_recipes(
    container: lxc.Container,
    chosen: list[recipes.Recipe],
    secrets: Secrets,
    *,
    dry_run: bool = False,
) -> tuple[Facts, Plan, int]:
    """Plan chosen recipes on the container and, unless dry_run, apply them."""
    with opened(container) as (rootfs, facts):
        plan = recipes.plan(rootfs, facts, chosen, secrets)
        applied = 0 if dry_run else len(recipes.apply(rootfs, plan))
    return facts, plan, applied


def login_tty(ttys: int) -> int:
    """The terminal `console` attaches to by default: tty1, or the console if no ttys."""
    return 1 if ttys >= 1 else 0


@dataclass
class NewRequest:
    name: str
    template: str
    lxcpath: Path
    release: str | None = None
    template_args: list[str] = field(default_factory=list)
    network: str = "bridge"
    bridge: str | None = None
    ip: str | None = None
    access: Access = field(default_factory=Access)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    start: bool = True
    dry_run: bool = False
    keep_on_failure: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    use_base: bool = True
    # lxcprov set's settings (memory=512M, ttys=2, ...) applied before the first start.
    settings: dict[str, str] = field(default_factory=dict)


def new(req: NewRequest, progress: Progress | None = None) -> Outcome:
    """Create (or clone from a prepared base), fix, start and wait; undo all on failure."""
    require_root()
    progress = progress or Progress()
    lxc.check_name(req.name)
    lxc.check_template(req.template)
    # Validate everything cheap before the slow template run.
    all_recipes = recipes.load_all()
    chosen = recipes.select(all_recipes, req.only, req.skip)
    args = distros.template_args(distros.template(req.template), req.release, req.template_args)
    if req.settings:
        from lxcprov.ops import settings  # imported here: settings imports this module

        settings.check(req.settings)
    secrets = req.access.secrets()
    generated = None
    if not req.access.given and not req.dry_run:
        # Without this nobody could ever log in; the password is shown once, never stored.
        generated = generate_password()
        secrets.root_password = generated
    target = lxc.Container(req.name, req.lxcpath)
    if target.exists():
        raise ContainerExistsError(f"container {req.name!r} already exists in {req.lxcpath}")
    if req.dry_run:
        net, keys = plan_network(req.name, req.lxcpath, req.network, req.bridge, None, progress)
        if req.ip is not None:  # show the static configuration without taking an address
            net = NetIntent("static", net.bridge, req.ip, "GATEWAY", "GATEWAY")
        return _dry_run_new(req, config_text(keys), args, secrets, net, progress)

    net, keys = plan_network(req.name, req.lxcpath, req.network, req.bridge, req.ip, progress)
    outcome = Outcome(container=target, generated_password=generated, network=net)
    try:
        chosen = _create_or_clone(req, args, keys, all_recipes, chosen, outcome, progress)
        netintent.save(req.lxcpath / req.name, net)
        if req.settings:
            from lxcprov.ops import settings  # imported here: settings imports this module

            settings.set_settings(target, req.settings, run_recipes=False)
        _fix_and_start(outcome, chosen, secrets, req.start, req.boot_timeout, progress)
    except BaseException:
        if not req.keep_on_failure:
            with contextlib.suppress(Exception):
                target.destroy()
            with contextlib.suppress(Exception):
                release_network(net)
        raise
    return outcome


def _create_or_clone(
    req: NewRequest,
    args: list[str],
    net_keys: dict[str, str],
    all_recipes: list[recipes.Recipe],
    chosen: list[recipes.Recipe],
    outcome: Outcome,
    progress: Progress,
) -> list[recipes.Recipe]:
    """Make the container; returns the recipes still to run on it.

    A base holds the distro-wide fixes of the default recipe set, so only the instance
    recipes remain for a clone. With --recipe/--skip-recipe or --no-base the template runs
    for this container alone and every chosen recipe remains.
    """
    t0 = time.monotonic()
    if not req.use_base or req.only or req.skip:
        progress.phase(f"creating {req.name} from template {req.template}")
        lxc.create(outcome.container, req.template, config_text(net_keys), args, progress.line)
        outcome.timings["create"] = time.monotonic() - t0
        return chosen
    base_chosen = bases.base_recipes(all_recipes)
    release = req.release or distros.template(req.template).default_release or ""
    spec = bases.spec_for(req.template, release, args, base_chosen)
    base, built = bases.ensure(req.lxcpath, spec, base_chosen, progress.line, progress.phase)
    if built:
        outcome.timings["build_base"] = time.monotonic() - t0
        t0 = time.monotonic()
    progress.phase(f"cloning {req.name} from {base.name}")
    clone, outcome.clone_method = bases.clone(base, req.name, net_keys)
    outcome.base = base.name
    with clone.mounted_rootfs() as root:
        bases.personalize(Rootfs(root), req.name)
    outcome.timings["clone"] = time.monotonic() - t0
    if "ttys" in req.settings:
        return chosen  # a different tty count redoes what the base's getty recipes did
    return [r for r in all_recipes if r.scope == "instance"]


def _dry_run_new(
    req: NewRequest,
    conf: str,
    args: list[str],
    secrets: Secrets,
    net: NetIntent,
    progress: Progress,
) -> Outcome:
    """Plan against what the template really produces, in a scratch lxcpath, then drop it."""
    scratch = Path(tempfile.mkdtemp(prefix="lxcprov-dry-run-"))
    try:
        temp = lxc.Container(req.name, scratch)
        progress.phase(f"dry run: running template {req.template} in a scratch directory")
        lxc.create(temp, req.template, conf, args, progress.line)
        netintent.save(scratch / req.name, net)
        chosen = recipes.select(recipes.load_all(), req.only, req.skip)
        facts, plan, _ = run_recipes(temp, chosen, secrets, dry_run=True)
        outcome = Outcome(container=lxc.Container(req.name, req.lxcpath), facts=facts, plan=plan)
        with contextlib.suppress(LxcprovError):
            temp.destroy()
        return outcome
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fix_and_start(
    outcome: Outcome,
    chosen: list[recipes.Recipe],
    secrets: Secrets,
    start: bool,
    boot_timeout: float,
    progress: Progress,
) -> None:
    container = outcome.container
    t0 = time.monotonic()
    progress.phase("applying recipes")
    outcome.facts, outcome.plan, outcome.applied = run_recipes(container, chosen, secrets)
    facts = outcome.facts
    outcome.timings["fixups"] = time.monotonic() - t0
    if not start:
        return
    t0 = time.monotonic()
    progress.phase(f"starting {container.name}")
    container.start()
    outcome.started = True
    tty = login_tty(facts.ttys)
    progress.phase(f"waiting for a login prompt on {'tty' + str(tty) if tty else 'the console'}")
    lxc.wait_for_login(container, tty, boot_timeout)
    outcome.login_tty = tty
    outcome.timings["boot_to_login"] = time.monotonic() - t0
    if facts.net_mode != "none":
        progress.phase("waiting for an IPv4 address")
        expected = facts.net_address.split("/")[0] if facts.net_mode == "static" else None
        outcome.ipv4 = lxc.wait_for_ipv4(container, expected, boot_timeout)
        outcome.timings["boot_to_ipv4"] = time.monotonic() - t0


def fix(
    container: lxc.Container,
    *,
    access: Access | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Apply the recipes to an existing container (made by lxcprov or by hand)."""
    require_root()
    container.require()
    secrets = (access or Access()).secrets()
    chosen = recipes.select(recipes.load_all(), only or [], skip or [])
    facts, plan, applied = run_recipes(container, chosen, secrets, dry_run=dry_run)
    outcome = Outcome(container=container, facts=facts, plan=plan, applied=applied)
    if applied and container.running():
        outcome.notes.append(
            f"{container.name} is running: restart it for the changes to take effect "
            f"(lxcprov stop {container.name} && lxcprov start {container.name})"
        )
    return outcome
