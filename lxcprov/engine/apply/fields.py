"""The keys of an `apply` document, as one table.

The validator (lxcprov.engine.apply.document), the JSON Schema (schema.py, written to
docs/apply.schema.json) and export-spec all read these tables, so a key is added in one
place. Keys are snake_case, like the options of the Ansible modules that send them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxcprov.engine.settings_words import summary

Kind = Literal[
    "string",  # a string
    "boolean",
    "integer",  # with minimum / maximum
    "size",  # a string with a unit (512M) or an integer (bytes)
    "number-or-string",  # cpus: 2, 0.5 or "0-1"
    "strings",  # a list of strings
    "names",  # a string or a list of strings (extends)
    "enum",  # one of choices
    "mounts",  # a list of "HOST:DIR[:ro]" strings or MOUNT_FIELDS tables
    "files",  # a list of FILE_FIELDS tables
    "commands",  # a list of command strings or COMMAND_FIELDS tables
    "table",  # a table of name -> fields (profiles, containers)
]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    summary: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str = ""  # for strings (and each string of a list): matched whole
    # The `lxcprov set` setting it is (memory, cpu-weight, ...), for the settings keys.
    setting: str = ""


STATES = ("started", "stopped", "present", "absent")
# A bridge name as the kernel takes it (IFNAMSIZ - 1), or none.
BRIDGE_PATTERN = r"[A-Za-z0-9_.-]{1,15}"
GROUP_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"  # an Ansible group name
MODE_PATTERN = r"0?[0-7]{3,4}"

CONTAINER_FIELDS: tuple[Field, ...] = (
    Field("template", "string", "LXC template (busybox, debian, ...); needed to create it"),
    Field("release", "string", "the template's release (e.g. bookworm); default: its own"),
    Field("template_args", "strings", "extra template arguments (after --)"),
    Field(
        "image",
        "string",
        "an image to make it from instead of a template: a rootfs tarball (relative: to the "
        "document's directory), oci:DIR[:TAG] or docker://REGISTRY/REPO[:TAG] "
        "(docs/images.md); not with template, release or template_args",
    ),
    Field("privileged", "boolean", "uid 0 inside is uid 0 on the host (default: false)"),
    Field("isolated", "boolean", "unprivileged with host ids of its own (default: false)"),
    Field(
        "state",
        "enum",
        "started (default), stopped, present (created, left as it is) or absent (removed)",
        choices=STATES,
    ),
    Field(
        "bridge",
        "string",
        "the bridge of eth0, or none (default: the configured one)",
        pattern=BRIDGE_PATTERN,
    ),
    Field("address", "string", "dhcp (default), auto (a free static one) or ADDR[/PREFIX]"),
    Field("memory", "size", summary("memory"), setting="memory"),
    Field("swap", "size", summary("swap"), setting="swap"),
    Field("cpus", "number-or-string", summary("cpus"), setting="cpus"),
    Field(
        "cpu_weight",
        "integer",
        summary("cpu-weight"),
        minimum=1,
        maximum=10000,
        setting="cpu-weight",
    ),
    Field("autostart", "boolean", summary("autostart"), setting="autostart"),
    Field("nesting", "boolean", summary("nesting"), setting="nesting"),
    Field("disk", "size", summary("disk"), setting="disk"),
    Field("ttys", "integer", "LXC ttys with a login prompt", minimum=0, maximum=63, setting="ttys"),
    Field("hostname", "string", "host name (default: the container's name)", setting="hostname"),
    Field("root_password_file", "string", "a file whose first line is root's password"),
    Field("ssh_keys", "strings", "public key files for root's authorized_keys"),
    Field("mounts", "mounts", "host directories inside: exactly these (none: [])"),
    Field("publish", "strings", "published ports, [ADDR:]HOST_PORT[:PORT][/udp]: exactly these"),
    Field(
        "devices",
        "strings",
        "host devices inside (tun, fuse, kvm, gpu, usb:BUS-PORT, /dev/PATH): exactly these",
    ),
    Field("files", "files", "files kept inside the container (rewritten when they differ)"),
    Field(
        "user_data",
        "string",
        "a #cloud-config file (relative: to the document's directory) given to new when the "
        "container is created; not compared afterwards (docs/cloud-config.md)",
    ),
    Field("first_boot", "commands", "commands run once inside, in order, after the files"),
    Field(
        "groups",
        "strings",
        "groups of the container (the Ansible inventory's)",
        pattern=GROUP_PATTERN,
    ),
)

# Only where a container is declared: how many, and which profiles it takes.
DECLARATION_FIELDS: tuple[Field, ...] = (
    Field(
        "count",
        "integer",
        "make N containers: NAME1..NAMEn, or the key's {n} replaced",
        minimum=1,
        maximum=1000,
    ),
    Field("extends", "names", "profiles this container takes keys from, in order"),
)

MOUNT_FIELDS: tuple[Field, ...] = (
    Field("source", "string", "the host directory (relative: to the document's directory)"),
    Field("target", "string", "where it shows inside (absolute)"),
    Field("ro", "boolean", "read-only inside (default: false)"),
    Field("idmap", "boolean", "an unprivileged container sees host owners (default: true)"),
)

FILE_FIELDS: tuple[Field, ...] = (
    Field("path", "string", "absolute path inside the container"),
    Field("content", "string", "the file's text"),
    Field("source", "string", "a host file to copy (relative: to the document's directory)"),
    Field(
        "mode",
        "string",
        'octal mode, e.g. "0644" (default: 0644, or the file\'s own)',
        pattern=MODE_PATTERN,
    ),
    Field(
        "owner",
        "string",
        "USER[:GROUP], names or numbers of the container (default: root, or the file's own)",
    ),
)

COMMAND_FIELDS: tuple[Field, ...] = (
    Field("run", "string", "a command for /bin/sh -c inside the container"),
    Field("timeout", "integer", "seconds it may take (default 900)", minimum=1, maximum=86400),
)

TOP_FIELDS: tuple[Field, ...] = (
    Field("version", "integer", "the document format (1)", minimum=1, maximum=1),
    Field("defaults", "table", "keys every container takes unless it says otherwise"),
    Field("profiles", "table", "named sets of keys that containers extend"),
    Field("containers", "table", "containers by name, or by a pattern with a count"),
)


def by_name(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {f.name: f for f in fields}


# Settings keys of a document -> `lxcprov set` settings (memory, cpu-weight, ...).
SETTING_OF = {f.name: f.setting for f in CONTAINER_FIELDS if f.setting}
# Keys that only a new rootfs can change: applied with --replace alone.
RECREATE_FIELDS = ("template", "release", "template_args", "image", "privileged", "isolated")
DEFAULT_COMMAND_TIMEOUT = 900
