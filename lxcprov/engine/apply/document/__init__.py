"""An `apply` document: read, checked, merged and expanded into one spec per container.

The text is TOML (a file) or JSON (`apply -`, what the Ansible modules send); both give
the same tree. Every key is checked against the tables of lxcprov.engine.apply.fields
before anything runs: an unknown key names the nearest known one, a wrong type names
what it must be, and every message starts with FILE:LINE: KEY. All problems are reported
at once, one line each.

Merging: a container takes `defaults`, then each profile it `extends` (in order), then its
own keys; a later value replaces an earlier one (lists too: they are never appended).
Expansion: `[containers.web] count = 3` declares web1, web2, web3 (as `new --count`);
`[containers."web-{n}"] count = 3` declares web-1, web-2, web-3.

A key a container does not have is not managed: an existing container keeps what it has
there, a new one gets `lxcprov new`'s default. `mounts = []` (given, empty) means none.

The phases, one module each, in the order a document goes through them::

    text       text -> tree and the line of every key (load_text)
    parse      the whole document: top keys, defaults, profiles, containers (parse)
    checker    one block of keys: unknown keys, each value by its Field's kind
    entries    the list keys whose items are tables: mounts, files, first_boot
    declared   one declaration merged over defaults and profiles
    expand     a declaration's names (count, {n})
    values     what the values mean on this host (settings, address, ports, privilege)
    across     what two containers claim at once (an address, a host port)
    tofields   a spec back to document keys (the worker's document, export-spec)

and below them ``spec`` (what it all becomes: ContainerSpec, Document; and Env, what
checking may look at) and ``problems`` (the messages, gathered and raised together).
"""

from __future__ import annotations

from lxcprov.engine.apply.document.parse import parse
from lxcprov.engine.apply.document.problems import Problems
from lxcprov.engine.apply.document.spec import (
    MAX_FILE_BYTES,
    CommandSpec,
    ContainerSpec,
    Document,
    Env,
    FileSpec,
    State,
    static_ip,
)
from lxcprov.engine.apply.document.text import Format, load_text
from lxcprov.engine.apply.document.tofields import mount_fields, one, to_fields

__all__ = [
    "MAX_FILE_BYTES",
    "CommandSpec",
    "ContainerSpec",
    "Document",
    "Env",
    "FileSpec",
    "Format",
    "Problems",
    "State",
    "load_text",
    "mount_fields",
    "one",
    "parse",
    "static_ip",
    "to_fields",
]
