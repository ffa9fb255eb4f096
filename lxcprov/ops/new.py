"""`lxcprov new`: create (or clone from a cached base), fix, start, wait for the login prompt.

The sequence: validate everything cheap first (name, template, recipes, settings, root
access), decide the network (lxcprov.ops.network), make the container (template run or
clone), write its settings, open its rootfs once to personalize a clone and apply the
recipes, start it, and return only once tty1 shows `login:` and, with a network, its
IPv4 address is there. On failure everything it made is removed (unless
--keep-on-failure).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lxcprov.engine import appimage, distros, idmap, network, recipes
from lxcprov.engine import mounts as mount_specs
from lxcprov.engine.recipes import Recipe, Secrets
from lxcprov.errors import (
    ContainerExistsError,
    InvalidArgumentError,
    LxcprovError,
    NotReadyError,
)
from lxcprov.ops import bases, doctor, idmaps, mounts, recovery, workspace
from lxcprov.ops import network as netops
from lxcprov.ops.attach import login_tty
from lxcprov.ops.outcome import Outcome
from lxcprov.ops.progress import Progress
from lxcprov.ops.request import NewRequest
from lxcprov.system import entrypoint, journal, locks, lxc, lxcfs, netintent, origin
from lxcprov.system.background import Background
from lxcprov.system.netintent import NetIntent
from lxcprov.system.passwords import generate_password

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lxcprov.engine.cloudconfig import CloudConfig

    # Imported where a request asks for them (--set, --device, --publish): about 30 ms
    # that every other `new` would pay before its clone (tests/unit/test_new_imports.py).
    from lxcprov.ops import forwards, userdata

_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


@dataclass(frozen=True)
class IdMaps:
    """The container's own map and its base's (None: privileged)."""

    own: idmap.IdMap | None
    base: idmap.IdMap | None


def _register_ids(req: NewRequest, progress: Progress) -> IdMaps:
    """Unprivileged by default: the shared map (its base is shifted into it once), or with
    --isolated a block of its own, chosen and registered on the host (root's range, the
    block, the lxcpath's o+x: lxcprov.ops.idmaps.choose_and_register); --privileged: none."""
    if req.privileged:
        return IdMaps(None, None)
    registered = idmaps.choose_and_register(
        req.name, req.lxcpath, isolated=req.isolated, say=progress.phase
    )
    return IdMaps(registered.own, registered.shared)


def _request(req: NewRequest) -> network.Request:
    if req.network == "none":
        return network.Request(bridge="none", address=req.ip)
    if req.network != "bridge":
        raise InvalidArgumentError(
            f"unknown network mode {req.network!r}", hint="use bridge or none"
        )
    return network.Request(bridge=req.bridge, address=req.ip)


def config_text(keys: dict[str, str | None]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)


@dataclass
class _Valid:
    all_recipes: list[Recipe]
    chosen: list[Recipe]
    args: list[str]  # the template's arguments
    secrets: Secrets
    mounts: list[mount_specs.Mount]
    ports: list[forwards.Publish]
    cloud: CloudConfig | None = None  # --user-data, checked


def _validate(req: NewRequest) -> _Valid:
    """Everything cheap that can be wrong with a request, checked before the slow work."""
    lxc.check_name(req.name)
    if req.image is not None:
        _check_image_request(req)
    else:
        lxc.check_template(req.template)
    # 0 is "do not wait": the prompt must be there at once (a set-up failure otherwise).
    if not (math.isfinite(req.boot_timeout) and req.boot_timeout >= 0):
        raise InvalidArgumentError(
            f"a boot timeout of {req.boot_timeout} is not a number of seconds (0 or more)",
            hint="how long to wait for the login prompt, e.g. 120 (seconds)",
        )
    if req.mac is not None and not _MAC.fullmatch(req.mac):  # it becomes a config line
        raise InvalidArgumentError(
            f"{req.mac!r} is not a MAC address", hint="six pairs of hex digits: 00:16:3e:12:34:56"
        )
    all_recipes = recipes.load_all()
    chosen = recipes.select(all_recipes, req.only, req.skip)
    template = distros.template(req.template)
    why_not = template.why_not() if req.image is None else ""
    if why_not and not req.force:
        raise InvalidArgumentError(
            f"template {req.template} cannot work here: {why_not} ({template.summary})",
            hint="lxcprov templates says what each needs; try anyway with --force",
        )
    args = distros.template_args(template, req.release, req.template_args)
    if req.settings:
        from lxcprov.ops import settings

        settings.check(req.settings, lxcpath=req.lxcpath)
    wanted_mounts = [mount_specs.parse_spec(s) for s in req.mounts]
    mounts.check_new(wanted_mounts)
    if req.devices:
        from lxcprov.ops import devices

        devices.check_new(req.devices)
    wanted_ports: list[forwards.Publish] = []
    if req.publish:
        from lxcprov.ops import forwards

        wanted_ports = [forwards.parse_publish(s) for s in req.publish]
    if wanted_ports:
        if req.network == "none" or req.bridge == "none":
            raise InvalidArgumentError("--publish needs a network", hint="drop --network none")
        forwards.check_new(req.name, str(req.lxcpath), wanted_ports)
    secrets = req.access.secrets()
    if req.privileged and req.isolated:
        raise InvalidArgumentError(
            "--isolated gives an unprivileged container ids of its own; --privileged has none",
            hint="drop one of them",
        )
    cloud = None
    if req.user_data is not None:
        from lxcprov.ops import userdata

        cloud = userdata.read(req.user_data, lenient=req.user_data_lenient)
        if not req.start and userdata.has_first_boot_work(cloud):
            raise InvalidArgumentError(
                "--user-data with users, packages or runcmd needs the first boot: "
                "--no-start skips it",
                hint="drop --no-start",
            )
    return _Valid(all_recipes, chosen, args, secrets, wanted_mounts, wanted_ports, cloud)


def _check_image_request(req: NewRequest) -> None:
    """An image is its own template: no template, release or template arguments with it,
    and always a clone of its cached base."""
    from lxcprov.engine import imageref

    imageref.parse(req.image or "")
    given = [what for what, bad in (("--template", bool(req.template)),
                                     ("--release", bool(req.release)),
                                     ("template arguments", bool(req.template_args)),
                                     ("--no-base", not req.use_base),
                                     ("--dry-run", req.dry_run)) if bad]  # fmt: skip
    if given:
        raise InvalidArgumentError(
            f"--image makes the container from an image: {', '.join(given)} cannot go with it",
            hint="drop them (an image is cached as a base and cloned)",
        )


def check(req: NewRequest) -> None:
    """What `new` checks before it makes anything, and nothing more (`new --check`): the
    request is valid, the name is free, and its network can be had. Changes nothing."""
    lxc.require_root()
    _validate(req)
    _refuse_existing(lxc.Container(req.name, req.lxcpath))
    netops.preview(req.name, req.lxcpath, _request(req), network.Current())


def new(req: NewRequest, progress: Progress | None = None) -> Outcome:
    """Create (or clone from a prepared base), fix, start and wait; undo all on failure."""
    lxc.require_root()
    progress = progress or Progress()
    valid = _validate(req)
    generated = None
    if not req.access.given and not req.dry_run:
        # Without this nobody could ever log in; the password is shown once, never stored.
        generated = generate_password()
        valid.secrets.root_password = generated
    target = lxc.Container(req.name, req.lxcpath)
    request = _request(req)
    if req.dry_run:
        _refuse_existing(target)
        decision = netops.preview(req.name, req.lxcpath, request, network.Current())
        return _dry_run_new(
            req, config_text(decision.keys), valid.args, valid.secrets, decision.intent, progress
        )
    # The lock is taken before the name is checked and held to the end: two `new`s of one
    # name never both create it, and neither removes the other's container.
    with locks.container(req.lxcpath, req.name, "new", on_wait=progress.phase):
        left = recovery.leftover(req.lxcpath, req.name)
        if left is not None:
            progress.phase(f"{req.name} was {left.left_by()}: removing it")
            recovery.undo(target, left)
        _refuse_existing(target)
        jr = journal.Journal.begin(req.lxcpath, req.name, "new", creating=True, phase="network")
        outcome = Outcome(container=target, generated_password=generated)
        try:
            # A MAC given by the caller (apply --replace keeps the old container's).
            current = network.Current(mac=req.mac)
            t0 = time.monotonic()
            decision = netops.prepare(req.name, req.lxcpath, request, current, progress, jr.claim)
            outcome.timings["network"] = time.monotonic() - t0
            outcome.network = decision.intent
            ids = _register_ids(req, progress)
            outcome.privileged = ids.own is None
            _make(_Steps(req, valid, outcome, progress, jr, ids, decision.keys))
        except BaseException:
            if req.keep_on_failure:
                jr.end()  # kept as it is, on purpose: nothing to undo
            else:
                with contextlib.suppress(LxcprovError):
                    recovery.undo(target, jr.entry)
            raise
        jr.end()
    return outcome


def _origin(req: NewRequest, base: str | None) -> origin.Origin:
    """What the container is made from, as `apply` and `export-spec` read it back: for an
    image, its reference (a relative path made absolute: the record is read from anywhere)
    and the digest of the base it was cloned from."""
    if req.image is not None:
        from lxcprov.engine import imageref
        from lxcprov.ops import images

        digest = images.digest_of(lxc.Container(base, req.lxcpath)) if base else ""
        return origin.Origin("", "", (), req.privileged, req.isolated,
                             image=imageref.anchored(req.image, str(Path.cwd())),
                             image_digest=digest)  # fmt: skip
    release = req.release or distros.template(req.template).default_release or ""
    return origin.Origin(req.template, release, tuple(req.template_args), req.privileged,
                         req.isolated)  # fmt: skip


def _refuse_existing(target: lxc.Container) -> None:
    if target.exists():
        raise ContainerExistsError(f"container {target.name!r} already exists in {target.lxcpath}")
    if (target.lxcpath / target.name).exists():
        raise ContainerExistsError(
            f"{target.lxcpath / target.name} exists but is not a container",
            hint="lxcprov destroy --force NAME removes it if lxcprov left it; "
            "otherwise look at it and remove it yourself",
        )


@dataclass
class _Steps:
    """What new's steps share while they make one container: the request and what its
    check found, the outcome they fill in, the progress display, the journal each step
    is written to first, the id maps and the network's config keys."""

    req: NewRequest
    valid: _Valid
    outcome: Outcome
    progress: Progress
    jr: journal.Journal
    ids: IdMaps
    net_keys: dict[str, str | None]
    user_data: userdata.Pending | None = None  # what --user-data leaves for the first boot


def _make(s: _Steps) -> None:
    """The container made, set up, fixed and (unless --no-start) started and waited for;
    each step journaled first."""
    req, jr, outcome = s.req, s.jr, s.outcome
    chosen = _create_or_clone(s)
    netintent.save(req.lxcpath / req.name, outcome.network)
    origin.save(req.lxcpath / req.name, _origin(req, outcome.base))
    wanted = dict(req.settings)
    if s.valid.cloud is not None and s.valid.cloud.hostname:
        wanted["hostname"] = s.valid.cloud.hostname  # the hostname recipe writes it
    if wanted:
        from lxcprov.ops import settings

        jr.phase("settings")
        settings.set_settings(outcome.container, wanted, run_recipes=False)
    if s.valid.mounts:
        jr.phase("mounts")
        mounts.write_new(outcome.container, s.valid.mounts)
    if req.devices:
        from lxcprov.ops import devices

        jr.phase("devices")  # nodes in the container's own directory: they go with it
        devices.write_new(outcome.container, req.devices)
    if s.valid.ports:
        from lxcprov.ops import forwards

        jr.phase("publish")
        forwards.add_new(outcome.container, s.valid.ports)
    renew = distros.family_of_template(req.template).renew_on_clone
    jr.phase("fixups")
    view = _fix(s, chosen, renew if outcome.base else None)
    if s.valid.cloud is not None:
        _user_data(s, s.valid.cloud)
    if req.start:
        # The host half of the closing advice is read while the container boots.
        _start_and_wait(s, view)
    else:
        outcome.remaining = doctor.remaining_for(outcome.container, view)


def _create_or_clone(s: _Steps) -> list[Recipe]:
    """Make the container; returns the recipes still to run on it.

    A base holds the distro-wide fixes of the default recipe set, so only the instance
    recipes remain for a clone. With --recipe/--skip-recipe or --no-base the template runs
    for this container alone and every chosen recipe remains. Templates run as root; an
    unprivileged container's files are then shifted into its map (a base's once, for all
    its clones; an isolated container's copy into its own block).
    """
    req = s.req
    if req.image is not None:
        _from_image(s)
        if appimage.kind_of(s.outcome.container.config()) == appimage.APPLICATION:
            s.outcome.kind = appimage.APPLICATION
            # No recipe runs there, so none sets it: a password shown would not work.
            s.outcome.generated_password = None
            return []  # its files are the application's: no getty, login or network to fix
        return s.valid.chosen if req.only or req.skip or "ttys" in req.settings else [
            r for r in s.valid.all_recipes if r.scope == "instance"]  # fmt: skip
    if not req.use_base or req.only or req.skip:
        _from_template(s)
        return s.valid.chosen
    _from_base(s)
    if "ttys" in req.settings:
        return s.valid.chosen  # a different tty count redoes what the base's getty recipes did
    return [r for r in s.valid.all_recipes if r.scope == "instance"]


def _from_template(s: _Steps) -> None:
    """The template run for this container alone, then its files shifted into its map."""
    req, jr, outcome = s.req, s.jr, s.outcome
    t0 = time.monotonic()
    jr.phase("template")
    s.progress.phase(f"creating {req.name} from template {req.template}")
    lxc.create(
        outcome.container,
        req.template,
        config_text(s.net_keys),
        s.valid.args,
        s.progress.line,
        on_start=lambda pid: jr.update(pgid=pid, pgid_start=journal.process_start(pid) or 0),
        on_cache=lambda found: jr.update(template=req.template, partials=found),
    )
    outcome.timings["create"] = time.monotonic() - t0
    if s.ids.own is not None:
        jr.phase("shift")
        t0 = time.monotonic()
        idmaps.shift_in_place(outcome.container, idmaps.move(None, s.ids.own), s.ids.own)
        outcome.timings["shift"] = time.monotonic() - t0


def _from_base(s: _Steps) -> None:
    """A clone (or, isolated, a copy shifted into its own ids) of the cached base, which
    is built first when there is none."""
    req, jr, ids = s.req, s.jr, s.ids
    t0 = time.monotonic()
    base_chosen = bases.base_recipes(s.valid.all_recipes)
    release = req.release or distros.template(req.template).default_release or ""
    spec = bases.spec_for(req.template, release, s.valid.args, base_chosen, ids.base)
    jr.phase("base")
    _clone(s, bases.prepared(req.lxcpath, spec, base_chosen, s.progress, ids.base), t0)


def _from_image(s: _Steps) -> None:
    """A clone of the image's cached base (lxcprov.ops.images), built first if none."""
    from lxcprov.ops import images

    req, ids = s.req, s.ids
    assert req.image is not None
    t0 = time.monotonic()
    base_chosen = bases.base_recipes(s.valid.all_recipes)
    s.jr.phase("base")
    prepared = images.prepared(req.lxcpath, req.image, base_chosen, s.progress, ids.base,
                               pull=req.pull)  # fmt: skip
    _clone(s, _refusing_user_data(prepared, s.valid.cloud is not None, req.image), t0)
    assert s.outcome.base is not None
    # An application's exact command, beside its config (LXC's clone copies only that).
    entrypoint.copy(req.lxcpath / s.outcome.base, req.lxcpath / req.name)


@contextlib.contextmanager
def _refusing_user_data(
    prepared: contextlib.AbstractContextManager[tuple[lxc.Container, bool]],
    user_data: bool,
    image: str,
) -> Iterator[tuple[lxc.Container, bool]]:
    """prepared, refusing --user-data once its base says what the image is: the kind is
    known only from the image's files (an init or not), so this is the first moment, and
    it is before the clone (the container is not made; the base, a cache, is kept)."""
    with prepared as found:
        if user_data:
            refuse_user_data(appimage.kind_of(found[0].config()), image)
        yield found


def refuse_user_data(kind: str, image: str) -> None:
    """An application image's entrypoint is PID 1: no first boot runs lxcprov's steps or
    cloud-init, so a cloud-config would be partly done and reported applied."""
    if kind == appimage.APPLICATION:
        raise InvalidArgumentError(
            f"--user-data: {image} is an application image (no init): nothing would run "
            "the cloud-config at its first boot",
            hint="drop --user-data, or use an image with an init (a system image)",
        )


def _clone(
    s: _Steps,
    prepared: contextlib.AbstractContextManager[tuple[lxc.Container, bool]],
    t0: float,
) -> None:
    """The container cloned (or, isolated, copied and shifted) from the base prepared
    holds while it is cloned."""
    req, jr, outcome, ids = s.req, s.jr, s.outcome, s.ids
    with prepared as (base, built):
        if built:
            outcome.timings["build_base"] = time.monotonic() - t0
            t0 = time.monotonic()
        jr.update(base=base.name)
        jr.phase("clone")
        keys = {k: v for k, v in s.net_keys.items() if v is not None}
        if ids.own is not None and ids.own != ids.base:
            s.progress.phase(f"copying {base.name} to {req.name} (isolated: its own ids)")
            outcome.container = bases.copy(base, req.name, keys)
            outcome.clone_method = "copy"
        else:
            s.progress.phase(f"cloning {req.name} from {base.name}")
            outcome.container, outcome.clone_method = bases.clone(base, req.name, keys)
    if ids.own is not None and ids.base is not None and ids.own != ids.base:
        jr.phase("shift")
        idmaps.shift_in_place(outcome.container, idmaps.move(ids.base, ids.own), ids.own)
    outcome.base = base.name
    outcome.timings["clone"] = time.monotonic() - t0


def _dry_run_new(
    req: NewRequest,
    conf: str,
    args: list[str],
    secrets: Secrets,
    net: NetIntent,
    progress: Progress,
) -> Outcome:
    """Plan against what the template really produces, in a scratch lxcpath, then drop it."""
    if net.mode == "static" and not net.address:
        net = dataclasses.replace(net, address="ADDRESS")  # --ip auto claims nothing here
    scratch = Path(tempfile.mkdtemp(prefix="lxcprov-dry-run-"))
    try:
        temp = lxc.Container(req.name, scratch)
        progress.phase(f"dry run: running template {req.template} in a scratch directory")
        lxc.create(temp, req.template, conf, args, progress.line)
        netintent.save(scratch / req.name, net)
        chosen = recipes.select(recipes.load_all(), req.only, req.skip)
        with workspace.opened(temp) as ws:
            facts, plan, _ = ws.run(chosen, secrets, dry_run=True)
        outcome = Outcome(container=lxc.Container(req.name, req.lxcpath), facts=facts, plan=plan)
        with contextlib.suppress(LxcprovError):
            temp.destroy()
        return outcome
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fix(
    s: _Steps, chosen: list[Recipe], renew: tuple[distros.Identity, ...] | None
) -> doctor.ContainerView:
    """Personalize a clone (renew: what it must not share) and apply the recipes, in one
    opening of its rootfs; returns doctor's view of the result (read while it is open)."""
    outcome = s.outcome
    t0 = time.monotonic()
    s.progress.phase("applying recipes")
    with workspace.opened(outcome.container) as ws:
        if renew is not None:
            bases.personalize(ws.rootfs, outcome.container.name, renew)
        outcome.facts, outcome.plan, outcome.applied = ws.run(chosen, s.valid.secrets)
        outcome.timings["fixups"] = time.monotonic() - t0
        return doctor.observe(outcome.container, ws)


def _user_data(s: _Steps, cloud: CloudConfig) -> None:
    """--user-data's work before the first boot (a seed for cloud-init, or lxcprov's files)."""
    from lxcprov.ops import userdata

    s.jr.phase("user-data")
    if cloud.ignored:
        s.progress.phase(f"user-data: ignoring {', '.join(cloud.ignored)} (--user-data-lenient)")
    with workspace.opened(s.outcome.container) as ws:
        hostname = cloud.hostname or s.req.name
        s.user_data = userdata.prepare(ws, cloud, hostname, s.progress)


def _problems(advice: Background[list[doctor.Finding]]) -> list[str]:
    """The errors and warnings of the closing advice, as an error's details."""
    try:
        found = advice.result()
    except LxcprovError:
        return []
    return doctor.as_details([f for f in found if f.severity in ("error", "warning")])


def _start_and_wait(s: _Steps, view: doctor.ContainerView) -> None:
    outcome, progress, jr, boot_timeout = s.outcome, s.progress, s.jr, s.req.boot_timeout
    container = outcome.container
    assert outcome.facts is not None
    facts = outcome.facts
    t0 = time.monotonic()
    jr.phase("start")
    progress.phase(f"starting {container.name}")
    mounts.ensure_userns(container)
    said = lxcfs.ensure()
    if said:
        progress.phase(said)
    with mounts.staged(container) as defines:
        container.start(defines)
    outcome.started = True
    outcome.timings["start"] = time.monotonic() - t0  # lxc-start alone: part of boot_to_login
    if outcome.kind == appimage.APPLICATION:
        # Its entrypoint is PID 1: no prompt to wait for; an address only if the image
        # runs a DHCP client (or LXC's own, with --ip).
        outcome.remaining = doctor.remaining_for(container, view)
        return
    # After the start's fork (see background.py), before the wait: the host is read while
    # this thread sits in select() on the terminal (through sysfs and one nftables listing,
    # no netlink: the boot needs both cores).
    advice = Background(lambda: doctor.remaining_for(container, view), "advice")
    jr.phase("wait")
    tty = login_tty(facts.ttys)
    progress.phase(f"waiting for a login prompt on {'tty' + str(tty) if tty else 'the console'}")
    try:
        lxc.wait_for_login(container, tty, boot_timeout)
        outcome.login_tty = tty
        outcome.timings["boot_to_login"] = time.monotonic() - t0
        if facts.net_mode != "none":
            progress.phase("waiting for an IPv4 address")
            expected = facts.net_address.split("/")[0] if facts.net_mode == "static" else None
            outcome.ipv4 = lxc.wait_for_ipv4(container, expected, boot_timeout)
            outcome.timings["boot_to_ipv4"] = time.monotonic() - t0
    except NotReadyError as exc:
        # No prompt or no address in time: what doctor found on the host (a dead dnsmasq,
        # a missing bridge) is most often why, and it was read meanwhile.
        exc.details = exc.details or _problems(advice)
        raise
    outcome.remaining = advice.result()
    if s.user_data is not None:
        from lxcprov.ops import userdata

        jr.phase("first-boot")
        outcome.notes.append(userdata.finish(container, s.user_data, progress))
