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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxcprov import lxc, recipes, templates
from lxcprov.errors import (
    ContainerExistsError,
    InvalidArgumentError,
    LxcprovError,
    NetworkError,
    NotRootError,
)
from lxcprov.facts import Facts, gather
from lxcprov.passwords import generate_password
from lxcprov.recipes import Plan, Secrets
from lxcprov.recipes.actions import parse_public_keys
from lxcprov.rootfs import Rootfs

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


def network_config(network: str, bridge: str | None) -> str:
    """The lxc.net.0.* lines for a new container (decided here, never by default.conf)."""
    if network == "none":
        # `empty` gives the container its own network namespace with only loopback.
        return "lxc.net.0.type = empty\n"
    if network == "bridge":
        bridge = bridge or "lxcbr0"
        if not Path("/sys/class/net", bridge, "bridge").is_dir():
            raise NetworkError(
                f"bridge {bridge!r} does not exist, so the container could not start",
                hint=f"create it with: lxcprov net setup --bridge {bridge}"
                " (or use --network none for a container without network)",
            )
        return (
            "lxc.net.0.type = veth\n"
            f"lxc.net.0.link = {bridge}\n"
            "lxc.net.0.flags = up\n"
            f"lxc.net.0.hwaddr = {random_mac()}\n"
        )
    raise InvalidArgumentError(f"unknown network mode {network!r}", hint="use bridge or none")


def random_mac() -> str:
    # 00:16:3e is the prefix LXC's own templates use for containers.
    tail = os.urandom(3)
    return "00:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def facts_of(container: lxc.Container) -> tuple[Rootfs, Facts]:
    rootfs = Rootfs(container.rootfs_dir())
    return rootfs, gather(container.name, rootfs, container.config())


def plan_recipes(
    container: lxc.Container, only: list[str], skip: list[str], secrets: Secrets
) -> tuple[Rootfs, Facts, Plan]:
    chosen = recipes.select(recipes.load_all(), only, skip)
    rootfs, facts = facts_of(container)
    return rootfs, facts, recipes.plan(rootfs, facts, chosen, secrets)


def login_tty(facts: Facts) -> int:
    """The terminal `console` attaches to by default: tty1, or the console if no ttys."""
    return 1 if facts.ttys >= 1 else 0


@dataclass
class NewRequest:
    name: str
    template: str
    lxcpath: Path
    release: str | None = None
    template_args: list[str] = field(default_factory=list)
    network: str = "bridge"
    bridge: str | None = None
    access: Access = field(default_factory=Access)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    start: bool = True
    dry_run: bool = False
    keep_on_failure: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT


def new(req: NewRequest, progress: Progress | None = None) -> Outcome:
    """Create, fix, start and wait; on any failure remove what was created."""
    require_root()
    progress = progress or Progress()
    lxc.check_name(req.name)
    lxc.check_template(req.template)
    # Validate everything cheap before the slow template run.
    recipes.select(recipes.load_all(), req.only, req.skip)
    args = templates.template_args(req.template, req.release, req.template_args)
    secrets = req.access.secrets()
    generated = None
    if not req.access.given and not req.dry_run:
        # Without this nobody could ever log in; the password is shown once, never stored.
        generated = generate_password()
        secrets.root_password = generated
    conf = network_config(req.network, req.bridge)

    target = lxc.Container(req.name, req.lxcpath)
    if target.exists():
        raise ContainerExistsError(f"container {req.name!r} already exists in {req.lxcpath}")
    if req.dry_run:
        return _dry_run_new(req, conf, args, secrets, progress)

    outcome = Outcome(container=target, generated_password=generated)
    t0 = time.monotonic()
    progress.phase(f"creating {req.name} from template {req.template}")
    lxc.create(target, req.template, conf, args, progress.line)
    outcome.timings["create"] = time.monotonic() - t0
    try:
        _fix_and_start(outcome, req.only, req.skip, secrets, req.start, req.boot_timeout, progress)
    except BaseException:
        if not req.keep_on_failure:
            with contextlib.suppress(Exception):
                target.destroy()
        raise
    return outcome


def _dry_run_new(
    req: NewRequest, conf: str, args: list[str], secrets: Secrets, progress: Progress
) -> Outcome:
    """Plan against what the template really produces, in a scratch lxcpath, then drop it."""
    scratch = Path(tempfile.mkdtemp(prefix="lxcprov-dry-run-"))
    try:
        temp = lxc.Container(req.name, scratch)
        progress.phase(f"dry run: running template {req.template} in a scratch directory")
        lxc.create(temp, req.template, conf, args, progress.line)
        _, facts, plan = plan_recipes(temp, req.only, req.skip, secrets)
        outcome = Outcome(container=lxc.Container(req.name, req.lxcpath), facts=facts, plan=plan)
        with contextlib.suppress(LxcprovError):
            temp.destroy()
        return outcome
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fix_and_start(
    outcome: Outcome,
    only: list[str],
    skip: list[str],
    secrets: Secrets,
    start: bool,
    boot_timeout: float,
    progress: Progress,
) -> None:
    container = outcome.container
    t0 = time.monotonic()
    progress.phase("applying recipes")
    rootfs, facts, plan = plan_recipes(container, only, skip, secrets)
    outcome.applied = len(recipes.apply(rootfs, plan))
    outcome.facts, outcome.plan = facts, plan
    outcome.timings["fixups"] = time.monotonic() - t0
    if not start:
        return
    t0 = time.monotonic()
    progress.phase(f"starting {container.name}")
    container.start()
    outcome.started = True
    tty = login_tty(facts)
    progress.phase(f"waiting for a login prompt on {'tty' + str(tty) if tty else 'the console'}")
    lxc.wait_for_login(container, tty, boot_timeout)
    outcome.login_tty = tty
    outcome.timings["boot_to_login"] = time.monotonic() - t0


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
    rootfs, facts, plan = plan_recipes(container, only or [], skip or [], secrets)
    outcome = Outcome(container=container, facts=facts, plan=plan)
    if not dry_run:
        outcome.applied = len(recipes.apply(rootfs, plan))
        if outcome.applied and container.running():
            outcome.notes.append(
                f"{container.name} is running: restart it for the changes to take effect "
                f"(lxcprov stop {container.name} && lxcprov start {container.name})"
            )
    return outcome
