"""nesting=yes: the LXC keys that let Docker and Podman run containers inside an
unprivileged container, and nothing more.

Measured on a Debian 12 host with cgroup v1 (hybrid), no AppArmor in the kernel, LXC
5.0.2, docker.io 20.10.24 and podman 4.3.1 inside a Debian 12 container, taking each
candidate key away in turn:

* lxc.mount.auto = cgroup:rw:force. Without it a systemd container mounts the v1
  hierarchies itself and leaves out cpu: `docker run --cpus 0.5` fails with "NanoCPUs
  can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is
  not mounted", and podman runs its conmon outside any cgroup ("mkdir
  /sys/fs/cgroup/cpu/libpod_parent: read-only file system"). `cgroup:rw` without
  `force` changes nothing: LXC skips its cgroup mounts when the container has a cgroup
  namespace and CAP_SYS_ADMIN (it expects init to mount them). With the key, LXC mounts
  every hierarchy with the container's own cgroup writable, and systemd still boots to
  "running" with no failed unit. Limits stay nested inside the container's own cgroup.
* lxc.apparmor.profile = generated and lxc.apparmor.allow_nesting = 1. On a host with
  AppArmor, LXC's generated profile forbids the mounts runc makes (proc, sysfs,
  pivot_root) unless allow_nesting adds its nesting block; the same key also gives the
  uncovered /dev/.lxc/proc and /dev/.lxc/sys instances some kernels want before a user
  namespace may mount proc. On the measured host (no AppArmor; LXC's own mounts are not
  locked, so the container's /proc counts as fully visible) docker and podman ran
  without them: they are written for AppArmor hosts, where a container without them
  cannot start a nested one.

Not written, because the measurement showed them not needed:
* no device cgroup rule for /dev/net/tun (c 10:200): runc 1.1 leaves the device cgroup
  alone inside a user namespace, so the v1 rule Docker's default spec carries is never
  written; `docker run` works with common.conf's device list as it is.
* no `proc:rw sys:rw`, no nesting.conf, no seccomp change, no privileged container.

Storage is the container's business, not a key: on a dir rootfs Docker uses overlay2
(userxattr) and Podman native overlay; on an overlay clone (new's default) Docker falls
back to vfs by itself and Podman needs `driver = "vfs"` (overlay over overlayfs is
refused). README "Docker and Podman inside" says so.

Pure: which keys, and whether a config has them.
"""

from __future__ import annotations

from lxcprov.system import lxcconf

# Key -> the value nesting writes. Order: the file shows them in this order.
KEYS: dict[str, str] = {
    "lxc.apparmor.profile": "generated",
    "lxc.apparmor.allow_nesting": "1",
    "lxc.mount.auto": "cgroup:rw:force",
}


def keys(on: bool, lines: list[lxcconf.Line]) -> dict[str, str | None]:
    """The config changes nesting=yes|no makes (None: the key removed), as lines of
    lxcprov's section (Wanted.in_section): a template's own `lxc.mount.auto = cgroup:mixed
    proc:mixed sys:mixed` (busybox writes it in the file) stays, and LXC adds the section's
    line on top (its cgroup mode wins, proc and sys stay); off removes the section's lines
    only, so whatever the file said before comes back.
    """
    if on:
        return dict(KEYS)
    return {k: None for k, v in KEYS.items() if v in lxcconf.section_values(lines, k)}


def enabled(lines: list[lxcconf.Line]) -> bool:
    """Whether the setting is on: lxcprov's section of the file holds every key (the
    same lines written by hand elsewhere are a person's, which `set nesting=no` keeps)."""
    return all(v in lxcconf.section_values(lines, k) for k, v in KEYS.items())


def in_effect(pairs: list[tuple[str, str]]) -> bool:
    """Whether LXC would start the container with every key's nesting value: the config's
    keys with its includes in place, in order (a later line wins, as in liblxc)."""
    last = dict(pairs)  # the last value of each key
    return all(last.get(k) == v for k, v in KEYS.items())
