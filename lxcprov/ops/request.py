"""What `lxcprov new` is asked to make, and the one place that turns it back into a command.

Many containers at once run one `lxcprov new` child per container (lxcprov.ops.batch), and
guided `new` shows the equivalent one-line command: both use NewRequest.argv().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxcprov.ops.access import Access
from lxcprov.ops.defaults import DEFAULT_BOOT_TIMEOUT


@dataclass
class NewRequest:
    name: str
    template: str
    lxcpath: Path
    release: str | None = None
    template_args: list[str] = field(default_factory=list)
    network: str = "bridge"  # or "none"
    bridge: str | None = None
    ip: str | None = None  # ADDR[/PREFIX] or "auto"; None: DHCP
    access: Access = field(default_factory=Access)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    start: bool = True
    dry_run: bool = False
    keep_on_failure: bool = False
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    use_base: bool = True
    privileged: bool = False  # uid 0 inside is uid 0 on the host (not the default)
    isolated: bool = False  # unprivileged with a block of ids of its own
    force: bool = False  # try a template that `templates` says cannot work here
    # lxcprov set's settings (memory=512M, ttys=2, ...) applied before the first start.
    settings: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)  # HOST_DIR:CONTAINER_DIR[:ro]
    publish: list[str] = field(default_factory=list)  # [ADDR:]HOST_PORT[:CONTAINER_PORT][/udp]
    # The veth's MAC; None: a random one. Only for callers in this process (`apply
    # --replace` keeps a container's MAC, so its DHCP lease and reservation stay): `new`
    # has no option for it, so argv() refuses to drop it silently.
    mac: str | None = None

    def argv(self, *, extra: tuple[str, ...] = (), password_file: str | None = None) -> list[str]:
        """The `new` arguments that make this request (after `lxcprov --lxcpath P`).

        extra options go before the template arguments; password_file replaces the real
        password file's path (guided `new` shows a placeholder for a typed password).
        """
        if self.mac is not None:
            raise ValueError("a NewRequest with a MAC cannot become a `new` command line")
        argv = ["new", self.name, "--template", self.template]
        if self.release:
            argv += ["--release", self.release]
        if self.network != "bridge":
            argv += ["--network", self.network]
        for flag, value in (("--bridge", self.bridge), ("--ip", self.ip)):
            if value:
                argv += [flag, value]
        if self.access.password_file is not None:
            argv += ["--root-password-file", password_file or str(self.access.password_file)]
        for key_file in self.access.ssh_key_files:
            argv += ["--ssh-key", str(key_file)]
        for setting, value in self.settings.items():
            argv += [f"--{setting}", value]  # memory=512M -> --memory 512M
        for spec in self.mounts:
            argv += ["--mount", spec]
        for spec in self.publish:
            argv += ["--publish", spec]
        for name in self.only:
            argv += ["--recipe", name]
        for name in self.skip:
            argv += ["--skip-recipe", name]
        if self.boot_timeout != DEFAULT_BOOT_TIMEOUT:
            argv += ["--boot-timeout", f"{self.boot_timeout:g}"]
        for flag, on in (
            ("--no-start", not self.start),
            ("--keep-on-failure", self.keep_on_failure),
            ("--no-base", not self.use_base),
            ("--privileged", self.privileged),
            ("--isolated", self.isolated),
            ("--dry-run", self.dry_run),
            ("--force", self.force),
        ):
            if on:
                argv.append(flag)
        argv += extra
        if self.template_args:
            argv += ["--", *self.template_args]
        return argv
