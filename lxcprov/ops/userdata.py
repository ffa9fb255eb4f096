"""`new --user-data FILE`: a cloud-config carried out in a new container, on one of two paths.

- The container carries cloud-init (/usr/bin/cloud-init in its rootfs): it gets a NoCloud
  seed (lxcprov.engine.nocloud) before its first boot, lxcprov applies nothing of the
  document itself, and `new` waits for `cloud-init status --wait` and reports its result.
- It does not (the Debian and busybox templates as lxcprov makes them): lxcprov does the
  subset it implements (lxcprov.engine.cloudsteps): files, keys, sudoers and time zone
  through the rootfs jail before the first boot, then users, packages and runcmd as
  commands inside the booted container, one after the other; each is logged to the
  container's first-boot log and recorded in its applystate when it exits 0, so nothing
  runs twice. The first that fails stops `new`, naming the item.

The host reads the file (a regular file, capped); lxcprov.engine.cloudconfig judges it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lxcprov.engine import cloudconfig, cloudsteps, cloudusers, nocloud
from lxcprov.engine.apply.files import resolve_owner
from lxcprov.engine.cloudconfig import CloudConfig
from lxcprov.errors import InvalidArgumentError, LxcprovError, UserDataError
from lxcprov.ops.attach import exec_argv
from lxcprov.ops.progress import Progress
from lxcprov.ops.workspace import Workspace
from lxcprov.system import applystate, faults, hostfile, lxc, netintent, run
from lxcprov.system.rootfs import Rootfs

# How long `cloud-init status --wait` may take after the login prompt (packages from a
# mirror are slow; a cloud-init that never ends is reported, not waited on forever).
CLOUD_INIT_TIMEOUT = 900.0


def read(path: str, *, lenient: bool) -> CloudConfig:
    """The file at path (the caller's, on the host), checked."""
    try:
        data = hostfile.read_regular(path, cloudconfig.MAX_BYTES)
    except hostfile.NotReadable as exc:
        raise InvalidArgumentError(f"--user-data {path}: {exc.reason}") from None
    return cloudconfig.parse(data, path, lenient=lenient)


@dataclass(frozen=True)
class Pending:
    """What is left for the first boot: cloud-init's end, or lxcprov's own steps."""

    cloud_init: bool
    steps: tuple[cloudsteps.Step, ...] = ()


def has_first_boot_work(cfg: CloudConfig) -> bool:
    return bool(cfg.users or cfg.packages or cfg.package_update or cfg.runcmd)


def tools(rootfs: Rootfs) -> cloudsteps.Tools:
    def there(*paths: str) -> bool:
        return any(rootfs.exists(p) for p in paths)

    users: cloudsteps.UserTool = "useradd" if there("/usr/sbin/useradd", "/sbin/useradd") \
        else "files"  # fmt: skip
    return cloudsteps.Tools(users, there("/usr/bin/apt-get"))


def prepare(ws: Workspace, cfg: CloudConfig, hostname: str, progress: Progress) -> Pending:
    """Before the first boot: the seed (cloud-init there) or lxcprov's own rootfs work."""
    c = ws.container
    if ws.rootfs.exists(nocloud.CLOUD_INIT):
        progress.phase("user-data: the container has cloud-init, giving it a NoCloud seed")
        net = netintent.load(c.lxcpath / c.name, c.config())
        seed = {
            "user-data": cfg.text.encode(),
            "vendor-data": nocloud.VENDOR_DATA,
            "meta-data": nocloud.meta_data(c.name, cfg.hostname or hostname),
            "network-config": nocloud.network_config(net),
        }
        for part in ("/var/lib/cloud", "/var/lib/cloud/seed", nocloud.SEED_DIR):
            ws.rootfs.make_dir(part, mode=0o755, uid=0, gid=0)
        for name, data in seed.items():
            ws.write_file(f"{nocloud.SEED_DIR}/{name}", data, 0o600, 0, 0)
        return Pending(cloud_init=True)
    found = tools(ws.rootfs)
    problem = cloudsteps.check(cfg, found)
    if problem:
        raise UserDataError(f"user-data: {problem}", hint="use a template whose container has it")
    progress.phase("user-data: writing files (the container has no cloud-init: lxcprov applies it)")
    if cfg.default_user:
        progress.phase("user-data: users' `default` is cloud-init's own user: none here")
    _write_files(ws, cfg)
    _root_keys(ws, cfg)
    if found.users == "files" and cfg.users:
        _accounts(ws, cfg)
    rules = cloudsteps.sudoers(cfg)
    if rules:
        ws.rootfs.make_dir("/etc/sudoers.d", mode=0o755, uid=0, gid=0)
        ws.write_file(cloudsteps.SUDOERS, rules.encode(), 0o440, 0, 0)
    if cfg.timezone:
        _timezone(ws, cfg.timezone)
    return Pending(cloud_init=False, steps=tuple(cloudsteps.steps(cfg, found)))


def _write_files(ws: Workspace, cfg: CloudConfig) -> None:
    passwd = ws.rootfs.read_text("/etc/passwd") or ""
    group = ws.rootfs.read_text("/etc/group") or ""
    for i, f in enumerate(cfg.files):
        where = f"user-data: write_files[{i}] ({f.path})"
        refuse_mounted_over(ws.rootfs, f.path, where)
        ids = resolve_owner(f.owner, passwd, group)
        if isinstance(ids, str):
            raise UserDataError(f"{where}: {ids}", hint="users from `users` do not exist yet "
                                "when files are written (as with cloud-init)")  # fmt: skip
        data = f.data
        if f.append:
            info = ws.rootfs.info(f.path, follow_final=False)
            if info is not None and not info.is_file:
                raise UserDataError(f"{where}: it is there and is not a regular file")
            data = (ws.rootfs.read_bytes(f.path) or b"") + data
        try:
            ws.write_file(f.path, data, f.mode, *ids)
        except (LxcprovError, OSError) as exc:
            raise UserDataError(f"{where}: {exc}") from None


def refuse_mounted_over(rootfs: Rootfs, path: str, where: str) -> None:
    """An error when path, resolved inside the rootfs, is where the boot mounts over: a
    link there (Debian's /etc/mtab -> ../proc/self/mounts) would make the write vanish
    (the path as written is checked with the document, cloudconfig.MOUNTED)."""
    try:
        real = rootfs.resolve(path)
    except LxcprovError as exc:
        raise UserDataError(f"{where}: {exc}") from None
    under = cloudconfig.mounted_over(real)
    if under:
        raise UserDataError(f"{where}: it leads to {real}, under {under}, which the boot "
                            "mounts over: the file would be lost",
                            hint="write it from runcmd at first boot")  # fmt: skip


def _accounts(ws: Workspace, cfg: CloudConfig) -> None:
    """The users added to the account files, their homes and keys (no useradd inside)."""
    passwd, group, shadow = (ws.rootfs.read_text(p) or "" for p in ("/etc/passwd", "/etc/group",
                                                                      "/etc/shadow"))  # fmt: skip
    try:
        made = cloudusers.add(passwd, group, shadow, cfg.users, int(time.time() // 86400))
    except ValueError as exc:
        raise UserDataError(f"user-data: users: {exc}") from None
    ws.write_file("/etc/passwd", made.passwd.encode(), 0o644, 0, 0)
    ws.write_file("/etc/group", made.group.encode(), 0o644, 0, 0)
    ws.write_file("/etc/shadow", made.shadow.encode(), 0o600, 0, 0)
    for home in made.homes:
        ws.rootfs.make_dir("/home", mode=0o755, uid=0, gid=0)
        ws.rootfs.make_dir(home.path, mode=0o700, uid=home.uid, gid=home.gid)
        if home.keys:
            ws.rootfs.make_dir(f"{home.path}/.ssh", mode=0o700, uid=home.uid, gid=home.gid)
            keys = "".join(f"{k}\n" for k in home.keys).encode()
            ws.write_file(f"{home.path}/.ssh/authorized_keys", keys, 0o600, home.uid, home.gid)


def _root_keys(ws: Workspace, cfg: CloudConfig) -> None:
    if not cfg.root_keys:
        return
    path = "/root/.ssh/authorized_keys"
    ws.rootfs.make_dir("/root", mode=0o700, uid=0, gid=0)
    ws.rootfs.make_dir("/root/.ssh", mode=0o700, uid=0, gid=0)
    existing = (ws.rootfs.read_bytes(path) or b"").decode(errors="replace")
    ws.write_file(path, cloudsteps.authorized_keys(existing, cfg.root_keys).encode(), 0o600, 0, 0)


def _timezone(ws: Workspace, zone: str) -> None:
    target = f"{cloudsteps.ZONEINFO}/{zone}"
    info = ws.rootfs.info(target)
    if info is None or not info.is_file:
        raise UserDataError(f"user-data: timezone {zone}: the container has no {target}",
                            hint="a time zone lxcprov sets needs the distro's tzdata")  # fmt: skip
    ws.rootfs.symlink("/etc/localtime", target)
    ws.write_file("/etc/timezone", f"{zone}\n".encode(), 0o644, 0, 0)


def finish(container: lxc.Container, pending: Pending, progress: Progress) -> str:
    """After the login prompt: lxcprov's steps run, or cloud-init waited for. Returns the
    line `new` reports."""
    if pending.cloud_init:
        return _wait_for_cloud_init(container, progress)
    directory = container.lxcpath / container.name
    for n, step in enumerate(pending.steps, 1):
        if step.id in applystate.load(directory).done:
            continue
        progress.phase(f"user-data: {step.what}")
        faults.stop_if(f"user-data-step-{n}")
        argv = exec_argv(container, ["/bin/sh", "-c", step.script])
        result = run.output_of(argv, timeout=cloudsteps.STEP_TIMEOUT)
        code: int | str = result.returncode if result.returncode >= 0 else "killed (timeout)"
        applystate.log(directory, step.script, code, result.stdout)
        if result.returncode != 0:
            lines = [ln.strip() for ln in result.stdout.split("\n") if ln.strip()]
            last = lines[-1][-200:] if lines else f"exit {code}"
            raise UserDataError(
                f"user-data: {step.what} failed in {container.name}: {last}",
                hint=f"its output is in {applystate.log_path(directory)}",
            )
        state = applystate.load(directory)
        ran = (*state.ran, applystate.Ran(step.id, step.script, applystate.now()))
        applystate.save(directory, applystate.ApplyState(state.groups, ran))
    return f"user-data applied by lxcprov ({len(pending.steps)} first-boot steps)"


def _wait_for_cloud_init(container: lxc.Container, progress: Progress) -> str:
    progress.phase("user-data: waiting for cloud-init to finish")
    argv = exec_argv(container, ["cloud-init", "status", "--wait", "--long"])
    result = run.output_of(argv, timeout=CLOUD_INIT_TIMEOUT)
    directory = container.lxcpath / container.name
    applystate.log(directory, "cloud-init status --wait --long", result.returncode, result.stdout)
    # `--wait` prints a dot a second while it waits, on the line `status:` then ends.
    lines = [ln.lstrip(".") for ln in result.stdout.split("\n")]
    status = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("status:")), "")
    if result.returncode != 0 or status != "done":
        detail = [ln.strip() for ln in result.stdout.split("\n") if ln.strip()]
        why = detail[-1][-200:] if detail else f"exit {result.returncode}"
        raise UserDataError(
            f"user-data: cloud-init in {container.name} ended "
            f"{status or 'without a status'}: {why}",
            hint=f"lxcprov exec {container.name} -- cloud-init status --long; "
            f"the output is in {applystate.log_path(directory)}",
        )
    return "user-data applied by cloud-init (status: done)"
