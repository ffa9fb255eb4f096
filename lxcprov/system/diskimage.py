"""A container's disk limit: a sparse ext4 image, loop-mounted where its writable files live.

This host (and many) has no project quotas (no QFMT_V2, `/` mounted noquota, no XFS
quota: docs/disk.md), so a limit is a file `<container>/disk.img` whose apparent size is
the limit, formatted ext4 without quota features, owned by the container's mapped root
(`-E root_owner`), and mounted `nodev,nosuid,discard` through a loop device that frees
itself at umount (mount(8)'s `-o loop` sets autoclear). It is mounted on the host at the
place the container's writable data lives: a dir container's rootfs, an overlay clone's
`overlay/` (its upper `delta0` and `work`). So lxc-start, the recipes, snapshots and
export see the files where they always were. liblxc cannot mount it itself for an
unprivileged container (its loop backend mounts inside the user namespace).

A reboot unmounts it: `ensure_attached` mounts it again before anything uses the
container (every command's refuse_incomplete, containerfs.opened). A file bigger than its
filesystem (a raise this host could not make live) grows there, offline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lxcprov.errors import CommandFailedError
from lxcprov.system import run

IMAGE = "disk.img"
NEW = "disk.img.new"  # an image being filled, before it replaces the files (the commit)
STAGING = ".lxcprov-disk"  # where NEW is mounted while it is filled (unmount_stale's prefix)
OLD = ".lxcprov-disk-old"  # the files it replaced, until they are removed
MOUNT_OPTIONS = "loop,nodev,nosuid,discard,errors=remount-ro"
CAP_SYS_RESOURCE = 24
# mkfs.ext4 zeroes the journal and inode tables by default: 518M of a 100G image, 1.1G of
# a 1000G one, written at once (measured). The image is a new sparse file, so what mkfs
# does not write already reads as zeros: leaving them unwritten is safe, and the image
# takes 144K (64M), 4.3M (10G), 5.2M (100G), 16M (1000G). The kernel's lazy inode-table
# init after the mount did not add to it (100G: 5.2M, 12 s after the mount; docs/disk.md).
LAZY = "lazy_itable_init=1,lazy_journal_init=1"
# An ext4 grows offline only as far as the group descriptor blocks mkfs reserved: a 64M
# image made with the defaults, grown to 100G by resize2fs, came out broken (resize2fs
# exit 1, "Illegal doubly indirect block", e2fsck exit 12; measured). So mkfs reserves
# room to grow to the size of the filesystem that holds it (a limit can be no larger):
# 240K more on the host for 252G of room, and 64M -> 250G then grew clean.
MAX_BLOCKS = 2**32 - 1
# How long an unmounted image's loop device may take to be freed (a mount namespace of
# a command that was starting meanwhile holds a copy of the mount until it ends).
RELEASE_WAIT = 15.0


def image_of(directory: Path) -> Path:
    return directory / IMAGE


def limit_of(directory: Path) -> int | None:
    """The limit in bytes (the image's apparent size), None when it has none."""
    try:
        return image_of(directory).stat().st_size
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Mount:
    point: Path
    source: str  # the device: /dev/loopN for ours
    backing: str  # the loop's backing file ("" when it is not a loop)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \\ooo
    return bytes(field, "ascii").decode("unicode_escape")


def _backing(source: str) -> str:
    name = os.path.basename(source)
    if not name.startswith("loop"):
        return ""
    try:
        text = Path(f"/sys/block/{name}/loop/backing_file").read_text().strip()
    except OSError:
        return ""
    return text


def mounts() -> list[Mount]:
    """Every mount in this namespace with its source and, for a loop, its backing file."""
    found: list[Mount] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            before, _sep, after = line.partition(" - ")
            parts, tail = before.split(), after.split()
            if len(parts) > 4 and len(tail) > 1:
                source = _unescape(tail[1])
                found.append(Mount(Path(_unescape(parts[4])), source,
                                   _backing(source)))  # fmt: skip
    return found


def is_image(backing: str) -> bool:
    """Whether a loop's backing file is a container's disk image (or one being made)."""
    name = os.path.basename(backing)
    return name in (IMAGE, NEW) or name.startswith(IMAGE)


def real(path: Path) -> Path:
    """path as the kernel names it in mountinfo and in a loop's backing file: symlinks
    resolved. An lxcpath may be a link (/var/lib/lxc to a bigger disk); compared as given,
    a mounted image read as unmounted, was mounted again, and its directory could not be
    removed (measured: `new --disk` and then `destroy --force` failed with EBUSY)."""
    return Path(os.path.realpath(path))


def mounted_at(point: Path, image: Path) -> bool:
    point, image = real(point), real(image)
    return any(m.point == point and m.backing == str(image) for m in mounts())


def loops() -> dict[str, str]:
    """Every attached loop device and its backing file."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/sys/block").iterdir():
            if entry.name.startswith("loop"):
                backing = _backing(entry.name)
                if backing:
                    found[f"/dev/{entry.name}"] = backing
    return found


def stale_loops(directory: Path) -> list[str]:
    """Loop devices backed by a file of this container's directory that nothing mounts
    (a command killed between attach and mount, or a umount that left one)."""
    used = {m.source for m in mounts()}
    prefix = str(real(directory)).rstrip("/") + "/"
    return [
        dev
        for dev, backing in loops().items()
        if backing.removesuffix(" (deleted)").startswith(prefix) and dev not in used
    ]


def make(image: Path, size: int, owner: tuple[int, int]) -> None:
    """A new sparse image of size bytes with an empty ext4 on it, its root directory
    owned by owner (the container's mapped root). No quota features: this kernel has no
    quota format to load them with, and a mount would fail."""
    with open(image, "xb") as f:  # never an image that was there
        f.truncate(size)
    grow_to = min(MAX_BLOCKS, max(room(image.parent), size) // 4096)
    run.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-L", "lxcprov", "-E",
             f"root_owner={owner[0]}:{owner[1]},nodiscard,{LAZY},resize={grow_to}",
             str(image)])  # fmt: skip


def mount(image: Path, point: Path) -> None:
    # mount(8) would reuse a loop device that still backs this file (held by another
    # mount namespace after our unmount): a second mount of a live filesystem, through a
    # device whose cache still has the old size. Never: wait for it, or refuse.
    wait_released(image)
    try:
        run.run(["mount", "-t", "ext4", "-o", MOUNT_OPTIONS, str(image), str(point)])
    except CommandFailedError as exc:
        raise no_loop_error(image, exc.message) or exc from exc


def no_loop_error(image: Path, message: str) -> CommandFailedError | None:
    """The one-line error for a mount that found no loop device (mount(8) says "failed to
    setup loop device"), None for any other failure. Loop devices are a host resource:
    the kernel makes more through /dev/loop-control (measured: a host started with 8
    gave a 9th and more on demand), unless it has none or its loop driver refuses."""
    if "loop device" not in message:
        return None
    said = message.rsplit(": ", 1)[-1].rstrip(".")
    return CommandFailedError(
        f"could not set up a loop device for the disk image {image} (mount: {said})",
        hint="check /dev/loop-control and `losetup -f`; `losetup -a` shows what holds "
        "them (lxcprov doctor --fix frees lxcprov's stale ones)",
    )


def umount(point: Path) -> None:
    """Unmount point and wait until its image is free (its loop device frees itself:
    autoclear), so that what follows (a resize, a check, a swap) never works on a
    filesystem still mounted somewhere: measured, a namespace made while the image was
    mounted (`unshare -m`, any command's private namespace) keeps it mounted and its
    loop attached after our unmount, and an offline resize then broke it."""
    images = [Path(m.backing) for m in mounts() if m.point == real(point) and m.backing]
    run.run(["umount", str(point)])
    for image in images:
        wait_released(image)


def holders(image: Path) -> list[str]:
    """The loop devices that still back image."""
    return sorted(dev for dev, backing in loops().items() if backing == str(real(image)))


def _holding_pids(devices: list[str]) -> list[int]:
    """Processes whose mount namespace still mounts one of devices (by its name in
    mountinfo's source field)."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                text = (entry / "mountinfo").read_text()
                if any(f" {dev} " in text for dev in devices):
                    pids.append(int(entry.name))
    return pids


def _opening_pids(devices: list[str]) -> list[int]:
    """Processes with a file, cwd or root on one of devices' filesystems: what keeps one
    alive once no namespace mounts it any more (a lazy unmount whose files stay open)."""
    numbers = set()
    for dev in devices:
        with contextlib.suppress(OSError):
            numbers.add(os.stat(dev).st_rdev)
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ends = [entry / "cwd", entry / "root", *(entry / "fd").iterdir()]
            if any(_dev_of(end) in numbers for end in ends):
                pids.append(int(entry.name))
    return pids


def _dev_of(path: Path) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def _holders_named(devices: list[str]) -> str:
    """Who holds devices, for a refusal: the processes whose namespaces mount them, else
    those with files open on them, else how to look."""
    if pids := _holding_pids(devices):
        return f"held by another mount namespace: PIDs {named(pids)}"
    if pids := _opening_pids(devices):
        return f"files on it are open in PIDs {named(pids)}"
    return "no process mounts it or has a file open on it: see `losetup -a`"


def named(pids: list[int]) -> str:
    """PIDs as a message names them, each with its command ("812 (lxc-create)"): the
    user then knows what to end without looking each one up."""
    said: list[str] = []
    for pid in pids[:8]:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text(errors="replace").removesuffix("\n")
        except OSError:
            comm = ""
        # Any process names itself (prctl): a newline there would split the one-line error,
        # and "x), 1 (systemd" would add a holder that is not one.
        comm = "".join(c if c.isprintable() and c not in "()," else f"\\x{ord(c):02x}"
                       for c in comm)  # fmt: skip
        said.append(f"{pid} ({comm})" if comm else str(pid))
    return ", ".join(said)


def held_elsewhere(image: Path) -> list[int]:
    """Processes in another mount namespace than ours that still mount image."""
    devices = holders(image)
    if not devices:
        return []
    ours = os.stat("/proc/self/ns/mnt").st_ino
    found: list[int] = []
    for pid in _holding_pids(devices):
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}/ns/mnt").st_ino != ours:
                found.append(pid)
    return found


def wait_not_held(image: Path, wait: float = RELEASE_WAIT) -> None:
    """Before an offline change of a mounted image (nothing changed yet): wait until no
    other mount namespace mounts it, or refuse, naming the processes."""
    deadline = time.monotonic() + wait
    while pids := held_elsewhere(image):
        if time.monotonic() >= deadline:
            raise CommandFailedError(
                f"the disk image {image} is also mounted in another mount namespace "
                f"(PIDs {named(pids)}): nothing was changed",
                hint="a process started while it was mounted keeps a copy of the mount: "
                "end it, then run the command again",
            )
        time.sleep(0.05)


def wait_released(image: Path, wait: float = RELEASE_WAIT) -> None:
    """Return once no loop device backs image; refuse after wait seconds, naming the
    processes whose mount namespaces still hold it."""
    deadline = time.monotonic() + wait
    while devices := holders(image):
        if time.monotonic() >= deadline:
            raise CommandFailedError(
                f"the disk image {image} is still in use "
                f"({', '.join(devices)}; {_holders_named(devices)})",
                hint="a process started while it was mounted keeps a copy of the mount: "
                "end it; then `lxcprov doctor --fix` ends what this command began",
            )
        time.sleep(0.05)


def room(lxcpath: Path) -> int:
    """The size of the filesystem that holds lxcpath (or, before it is made, its nearest
    existing parent): no image there can be bigger."""
    here = lxcpath
    while not here.exists() and here != here.parent:
        here = here.parent
    st = os.statvfs(here)
    return st.f_blocks * st.f_frsize


def used(point: Path) -> int:
    """Bytes in use on the image mounted at point."""
    st = os.statvfs(point)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def fs_size(image: Path) -> int:
    """The size of the filesystem in the image (less than the file after a raise that
    could not be made live)."""
    out = run.run(["dumpe2fs", "-h", str(image)]).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["Block count"].strip()) * int(fields["Block size"].strip())


def fs_bytes(image: Path) -> int | None:
    """The size of the filesystem in the image, read from its ext4 superblock (no process:
    ls asks it of every container); None when it is not one. Less than the file after a
    raise that waits for the next start."""
    try:
        with open(image, "rb") as f:
            f.seek(1024)
            sb = f.read(1024)
    except OSError:
        return None
    if len(sb) < 0x158 or int.from_bytes(sb[0x38:0x3A], "little") != 0xEF53:
        return None
    blocks = int.from_bytes(sb[0x4:0x8], "little")
    if int.from_bytes(sb[0x60:0x64], "little") & 0x80:  # INCOMPAT_64BIT: the high half
        blocks |= int.from_bytes(sb[0x150:0x154], "little") << 32
    return blocks * (1024 << int.from_bytes(sb[0x18:0x1C], "little"))


def online_grow_allowed() -> bool:
    """Whether this process may grow a mounted ext4 (EXT4_IOC_RESIZE_FS needs
    CAP_SYS_RESOURCE; a Firecracker host measured here withholds it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def grow_file(image: Path, size: int) -> None:
    """The file made size bytes long (sparse: it takes nothing more on the host)."""
    with open(image, "r+b") as f:
        f.truncate(size)


def grow_live(image: Path, point: Path) -> None:
    """The mounted filesystem grown to the file's size (its loop told first)."""
    point, image = real(point), real(image)
    device = next(m.source for m in mounts() if m.point == point and m.backing == str(image))
    run.run(["losetup", "--set-capacity", device])
    run.run(["resize2fs", device])


def resize_offline(image: Path, size: int | None = None) -> None:
    """An unmounted image's filesystem checked and resized (to the file's size when
    size is None); a smaller file afterwards when it shrank."""
    wait_released(image)  # never a filesystem another namespace still mounts
    run.run(["e2fsck", "-f", "-p", str(image)])
    wanted = [f"{size // 1024}K"] if size is not None else []
    run.run(["resize2fs", str(image), *wanted])
    if size is not None:
        with open(image, "r+b") as f:
            f.truncate(size)


def ensure_attached(directory: Path, point: Path, *, running: bool) -> bool:
    """Mount a container's image at point if it is not (after a reboot), and, while the
    container is stopped, grow its filesystem to the file's size if a raise could not be
    made live. True when it changed anything. Call it with the container's lock held."""
    image = image_of(directory)
    if not image.is_file():
        return False
    mounted = mounted_at(point, image)
    if running or (mounted and fs_size(image) >= image.stat().st_size):
        return False
    if mounted:
        umount(point)
    point.mkdir(exist_ok=True)
    if fs_size(image) < image.stat().st_size:
        resize_offline(image)
    mount(image, point)
    return True


def detach(directory: Path) -> list[str]:
    """Unmount every image of the container's (its own, one being filled) and free the
    loop devices of its files nothing mounts; what was done. Only loops whose backing
    file is in its directory are ever touched."""
    prefix = str(real(directory)).rstrip("/") + "/"
    done: list[str] = []
    for m in mounts():
        if m.backing.removesuffix(" (deleted)").startswith(prefix):
            if not run.run(["umount", str(m.point)], check=False).ok:
                run.run(["umount", "--lazy", str(m.point)], check=False)
            done.append(f"unmounted its disk image from {m.point}")
    return done + _free_stale_loops(directory)


def _free_stale_loops(directory: Path) -> list[str]:
    """Free the loop devices of the container's files that nothing here mounts, after a
    moment for their autoclear (or a namespace that is ending); say which one another
    mount namespace still holds instead of claiming it freed."""
    done: list[str] = []
    deadline = time.monotonic() + 5
    while stale_loops(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    for device in stale_loops(directory):
        run.run(["losetup", "-d", device], check=False)
        if device in loops():  # busy: another mount namespace, or an open file, holds it
            done.append(f"{device} is still in use, {_holders_named([device])}: "
                        "the kernel frees it, and its space, when they end")  # fmt: skip
        else:
            done.append(f"detached {device}")
    return done


def check_unmounted(directory: Path, point: Path) -> list[str]:
    """After a resize was killed: the image, if it is not mounted, checked and repaired
    (`e2fsck -f -y`: a kill inside resize2fs may leave it needing that)."""
    image = image_of(directory)
    if not image.is_file() or mounted_at(point, image):
        return []
    wait_released(image)  # e2fsck -y on a filesystem mounted elsewhere would break it
    # Exit 1 and 2 mean it fixed something; 4 and up that it could not.
    result = run.run(["e2fsck", "-f", "-y", str(image)], check=False)
    if result.returncode >= 4:
        raise CommandFailedError(
            f"e2fsck could not repair {image} (exit code {result.returncode})",
            hint=f"look at it by hand: e2fsck -f {image}",
        )
    return ["checked its disk image (e2fsck -f -y)"]


def settle(directory: Path, target: Path) -> list[str]:
    """End a killed move of a container's files into a new image: the image was
    committed (renamed to IMAGE) or it was not. Committed: the old files go. Not: they
    are put back and the half image goes. Either way nothing is lost."""
    done: list[str] = []
    staging = directory / STAGING
    for m in mounts():
        if m.point == real(staging):
            umount(staging)
    with contextlib.suppress(OSError):
        staging.rmdir()
    old = directory / OLD
    if image_of(directory).exists():
        if old.exists():
            shutil.rmtree(old)
            done.append("removed the files the disk image replaced")
    elif old.exists():
        if target.exists() and not target.is_symlink():
            target.rmdir()  # the empty mount point made for the image
        old.rename(target)
        done.append(f"put its files back in {target} (no disk image was committed)")
    if (directory / NEW).exists():
        (directory / NEW).unlink()
        done.append("removed a half-made disk image")
    return done + _free_stale_loops(directory)
