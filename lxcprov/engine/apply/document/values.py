"""What a declaration's values mean, checked where a type is not enough: the settings as
`lxcprov set` computes them on this host, the address against the network, the published
ports, privilege against isolation. Each phase adds its problems; none stops the others."""

from __future__ import annotations

import ipaddress
from typing import Any

from lxcprov.engine import devices, imageref, settings_table, sizes
from lxcprov.engine.apply import fields as F
from lxcprov.engine.apply.document.declared import Declared
from lxcprov.engine.apply.document.problems import Problems
from lxcprov.engine.apply.document.spec import Env
from lxcprov.engine.apply.locate import Path as KeyPath
from lxcprov.engine.publish import Publish, parse_publish
from lxcprov.errors import LxcprovError

Origins = dict[str, KeyPath]


def spec_values(d: Declared, problems: Problems, env: Env) -> dict[str, Any]:
    """The ContainerSpec fields of a declaration (all but its name and places)."""
    v = d.values
    settings = _settings(v)
    _check_settings(settings, d.origins, problems, env)
    _check_address(d, problems)
    publish = _publish(v, d.origins, problems)
    _check_devices(v, d.origins, problems)
    if v.get("privileged") is True and v.get("isolated") is True:
        problems.add(d.origins["isolated"], "isolated gives an unprivileged container ids of "
                     "its own; privileged has none")  # fmt: skip
    password = v.get("root_password_file")
    keys = v.get("ssh_keys")
    user_data = v.get("user_data")
    return {
        "template": v.get("template"),
        "release": v.get("release"),
        "template_args": v.get("template_args"),
        "image": _image(v, d.origins, problems, env),
        "privileged": v.get("privileged"),
        "isolated": v.get("isolated"),
        "state": v.get("state", "started"),
        "bridge": v.get("bridge"),
        "address": v.get("address"),
        "settings": settings,
        "root_password_file": None if password is None else env.host_path(str(password)),
        "ssh_keys": None if keys is None else tuple(env.host_path(str(k)) for k in keys),  # type: ignore[attr-defined]
        "mounts": v.get("mounts"),
        "publish": publish,
        "devices": v.get("devices"),
        "files": v.get("files"),
        "user_data": None if user_data is None else env.host_path(str(user_data)),
        "first_boot": v.get("first_boot"),
        "groups": v.get("groups"),
    }


def _settings(v: dict[str, object]) -> dict[str, str]:
    """The `lxcprov set` settings the keys give, as set takes them (yes/no for booleans)."""
    settings: dict[str, str] = {}
    for key, setting in F.SETTING_OF.items():
        if key in v:
            value = v[key]
            if isinstance(value, bool):
                value = "yes" if value else "no"
            settings[setting] = str(value)
    return settings


def _image(v: dict[str, object], at: Origins, problems: Problems, env: Env) -> str | None:
    """The image reference, its relative path anchored at the document's directory; with a
    template (or its release or arguments) it is one line: an image is its own template."""
    text = v.get("image")
    if not isinstance(text, str):
        return None
    given = [key for key in ("template", "release", "template_args") if key in v]
    if given:
        problems.add(at["image"], f"image makes the container from an image: "
                     f"{', '.join(given)} cannot go with it (drop one of them)")  # fmt: skip
    try:
        return imageref.anchored(text, str(env.base_dir))
    except LxcprovError as exc:
        problems.add(at["image"], exc.message)
        return None


def _check_settings(settings: dict[str, str], at: Origins, problems: Problems, env: Env) -> None:
    """Each setting computed as `set` would on this host (its units, its cgroup keys)."""
    ctx = settings_table.Ctx(env.host, [], dict(settings))
    for key, setting in F.SETTING_OF.items():
        if setting not in settings:
            continue
        try:
            if setting == "swap" and "memory" not in settings:
                # The container's own memory limit decides; `set` checks it then.
                sizes.parse_size("swap", settings["swap"])
            else:
                settings_table.SETTINGS[setting].compute(settings[setting], ctx)
        except LxcprovError as exc:
            problems.add(at[key], exc.message)


def _check_address(d: Declared, problems: Problems) -> None:
    """An address is valid, has a network, and is not one static address for a count."""
    address = d.values.get("address")
    if not isinstance(address, str):
        return
    at = d.origins["address"]
    problem = check_address(address)
    if problem:
        problems.add(at, problem)
    elif d.values.get("bridge") == "none" and address.lower() not in ("none", "dhcp"):
        problems.add(at, "an address needs a network, and bridge is none")
    elif d.count and address.lower() not in ("dhcp", "auto", "none"):
        problems.add(at, f"{d.count} containers cannot share the address {address}: use auto")


def _publish(v: dict[str, object], at: Origins, problems: Problems) -> tuple[Publish, ...] | None:
    """The published ports, parsed (None when the key is not given)."""
    publish: list[Publish] = []
    raw_publish = v.get("publish")
    if isinstance(raw_publish, tuple):
        for i, text in enumerate(raw_publish):
            try:
                publish.append(parse_publish(str(text)))
            except LxcprovError as exc:
                problems.add((*at["publish"], i), exc.message)
        if publish and v.get("bridge") == "none":
            problems.add(at["publish"], "published ports need a network, and bridge is none")
    return tuple(publish) if "publish" in v else None


def _check_devices(v: dict[str, object], at: Origins, problems: Problems) -> None:
    """Each device is a name or a /dev path as `device add` takes it (the host is looked
    at when the document is planned: a USB port or a GPU may be on another host)."""
    raw = v.get("devices")
    if not isinstance(raw, tuple):
        return
    for i, text in enumerate(raw):
        try:
            devices.check_spec(str(text))
        except LxcprovError as exc:
            problems.add((*at["devices"], i), exc.message)


def check_address(text: str) -> str:
    """ "" when text is dhcp, auto, none or an IPv4 address (with or without a prefix)."""
    if text.strip().lower() in ("dhcp", "auto", "none"):
        return ""
    try:
        ipaddress.IPv4Interface(text)
    except ValueError:
        return f"{text!r} is not dhcp, auto or an IPv4 ADDR[/PREFIX]"
    return ""
