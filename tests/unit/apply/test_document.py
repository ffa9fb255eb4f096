"""An apply document: merged, expanded, and every bad input one line with file:line:key."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lxcprov.engine.apply import document
from lxcprov.engine.mounts import Mount
from lxcprov.engine.publish import Publish
from tests.unit.apply.docs import ENV, parse, problems

GOOD = """\
version = 1

[defaults]
template = "busybox"
memory = "256M"
bridge = "br0"
root_password_file = "secrets/pw"

[profiles.web]
cpus = 1
groups = ["web"]
memory = "512M"

[profiles.edge]
groups = ["edge", "web"]

[containers.web]
count = 3
extends = ["web", "edge"]
address = "auto"
mounts = ["www:/var/www:ro", { source = "/data", target = "/data", idmap = false }]
first_boot = ["apk add nginx", "echo done", "echo done", { run = "slow", timeout = 5 }]

[[containers.web.files]]
path = "/etc/motd"
content = "hello\\n"
mode = "0640"
owner = "root:adm"

[[containers.web.files]]
path = "/etc/app.conf"
source = "app.conf"

[containers."db-{n}"]
count = 2
state = "stopped"
ttys = 2
autostart = true
cpu_weight = 200

[containers.gw]
address = "10.0.3.10/24"
publish = ["8080:80", "127.0.0.1:5353:53/udp"]
privileged = true
"""


def test_merge_order_and_expansion() -> None:
    doc = parse(GOOD)
    assert doc.names() == ["web1", "web2", "web3", "db-1", "db-2", "gw"]
    web = doc.containers[0]
    # defaults < profiles in order < own keys; lists replace, never append.
    assert web.template == "busybox"
    assert web.settings == {"memory": "512M", "cpus": "1"}
    assert web.groups == ("edge", "web")
    assert web.address == "auto" and web.bridge == "br0"
    assert web.from_count
    assert web.root_password_file == "/srv/docs/secrets/pw"  # relative to the document
    assert web.mounts == (Mount("/var/www", "/srv/docs/www", ro=True),
                          Mount("/data", "/data", idmap=False))  # fmt: skip
    motd, conf = web.files or ()
    assert (motd.path, motd.data, motd.mode, motd.owner) == ("/etc/motd", b"hello\n", 0o640,
                                                              "root:adm")  # fmt: skip
    assert conf.source == "/srv/docs/app.conf" and conf.data == b"contents of /srv/docs/app.conf\n"
    runs = web.first_boot or ()
    assert [c.run for c in runs] == ["apk add nginx", "echo done", "echo done", "slow"]
    assert runs[3].timeout == 5 and runs[0].timeout == 900
    # The same text twice is two commands; ids never depend on the container.
    assert len({c.id for c in runs}) == 4
    assert [c.id for c in doc.containers[1].first_boot or ()] == [c.id for c in runs]
    db = doc.containers[3]
    assert db.name == "db-1" and db.state == "stopped"
    assert db.settings == {"memory": "256M", "ttys": "2", "autostart": "yes", "cpu-weight": "200"}
    gw = doc.containers[5]
    assert gw.publish == (Publish(8080, 80), Publish(5353, 53, "udp", "127.0.0.1"))
    assert gw.privileged is True and not gw.from_count
    # Where each key came from, for later messages.
    assert web.at("memory") == "doc.toml:12: profiles.web.memory"
    assert web.at("template") == "doc.toml:4: defaults.template"
    assert gw.declared == "doc.toml:41: containers.gw"


def test_keys_not_given_are_not_managed() -> None:
    doc = parse('[containers.a]\ntemplate = "busybox"\nmounts = []\n')
    a = doc.containers[0]
    assert a.given == {"template", "mounts"}
    assert a.mounts == () and a.publish is None and a.settings == {} and a.bridge is None
    assert a.state == "started"


def test_json_reads_like_toml() -> None:
    toml_doc = parse(GOOD)
    raw = {"version": 1, "containers": {s.name: document.to_fields(s) for s in toml_doc.containers}}
    json_doc = parse(json.dumps(raw, indent=1), "json", "<stdin>")
    for a, b in zip(toml_doc.containers, json_doc.containers, strict=True):
        for f in dataclasses.fields(a):
            if f.name not in ("declared", "where", "from_count"):
                assert getattr(a, f.name) == getattr(b, f.name), f.name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an unknown key names the nearest known one
        ('[containers.a]\ntemplate = "x"\nmemroy = "1G"\n',
         "doc.toml:3: containers.a.memroy: unknown key 'memroy' (did you mean 'memory'?)"),
        ('[defaults]\ncpu-weight = 100\n',
         "doc.toml:2: defaults.cpu-weight: unknown key 'cpu-weight' (did you mean 'cpu_weight'?)"),
        ('[containres.a]\n', "doc.toml:1: containres: unknown key 'containres' "
         "(did you mean 'containers'?)"),
        # wrong types
        ('[containers.a]\nttys = "two"\n', "doc.toml:2: containers.a.ttys: must be an integer, "
         "not 'two'"),
        ('[containers.a]\nautostart = "yes"\n', "doc.toml:2: containers.a.autostart: must be "
         "true or false, not 'yes'"),
        ('[containers.a]\nmounts = "/a:/b"\n', "doc.toml:2: containers.a.mounts: must be a list "
         "of mounts, not '/a:/b'"),
        ('[containers.a]\nmemory = "lots"\n', "doc.toml:2: containers.a.memory: memory=lots: "
         "not a size"),
        ('[containers.a]\nstate = "running"\n', "doc.toml:2: containers.a.state: 'running' is "
         "not one of started, stopped, present, absent"),
        ('[containers.a]\ncpu_weight = 0\n', "doc.toml:2: containers.a.cpu_weight: 0 is outside "
         "1..10000"),
        ('[containers.a]\naddress = "10.0.3.300"\n', "doc.toml:2: containers.a.address: "
         "'10.0.3.300' is not dhcp, auto or an IPv4 ADDR[/PREFIX]"),
        ('[containers.a]\npublish = ["80:99999"]\n', "doc.toml:2: containers.a.publish[0]: "
         "container port '99999' is not a port number (1-65535)"),
        ('[containers.a]\nbridge = "none"\npublish = ["80"]\n', "doc.toml:3: containers.a."
         "publish: published ports need a network, and bridge is none"),
        ('[[containers.a.files]]\npath = "etc/x"\ncontent = ""\n', "doc.toml:2: containers.a."
         "files[0].path: 'etc/x' is not an absolute path inside (no '..', not /)"),
        ('[[containers.a.files]]\npath = "/x"\n', "doc.toml:1: containers.a.files[0]: a file "
         "needs exactly one of content and source"),
        ('[[containers.a.files]]\npath = "/x"\nsource = "missing"\n', "doc.toml:3: containers.a."
         "files[0].source: cannot read /srv/docs/missing: No such file or directory"),
        ('[[containers.a.files]]\npath = "/x"\ncontent = ""\nmode = "rw"\n', "doc.toml:4: "
         "containers.a.files[0].mode: 'rw' is not valid here (it must match 0?[0-7]{3,4})"),
        ('[containers.a]\nfirst_boot = [""]\n', "doc.toml:2: containers.a.first_boot[0]: a "
         "command is a non-empty string (or a table with run)"),
        ('[containers.a]\nextends = ["wbe"]\n[profiles.web]\n', "doc.toml:2: containers.a."
         "extends[0]: no profile 'wbe' (did you mean 'web'?)"),
        ('[containers."a{n}"]\n', "doc.toml:1: containers.a{n}: a name with {n} needs a count"),
        ('[containers."a_b"]\n', "doc.toml:1: containers.a_b: 'a_b' is not a container name "
         "(letters, digits and dashes, at most 63; it becomes the hostname)"),
        ('version = 2\n', "doc.toml:1: version: 2 is not a version this lxcprov reads (1)"),
        ("version = true\n", "doc.toml:1: version: True is not a version this lxcprov reads (1)"),
        ('[containers.a]\nprivileged = true\nisolated = true\n', "doc.toml:3: containers.a."
         "isolated: isolated gives an unprivileged container ids of its own; privileged has "
         "none"),
        # a count that collides with another name
        ('[containers.web]\ncount = 2\n[containers.web2]\n', "doc.toml:3: containers.web2: "
         "declares web2, which containers.web declares too"),
        # two containers claiming one static address or host port
        ('[containers.a]\naddress = "10.0.3.5"\n[containers.b]\naddress = "10.0.3.5/24"\n',
         "doc.toml:4: containers.b.address: b and a both claim 10.0.3.5"),
        ('[containers.a]\npublish = ["8080:80"]\n[containers.b]\npublish = ["1.2.3.4:8080:80"]\n',
         "doc.toml:4: containers.b.publish: host port 8080/tcp is claimed by a and b"),
        ('[containers.w]\ncount = 2\npublish = ["8080:80"]\n', "doc.toml:3: containers.w."
         "publish: host port 8080/tcp is claimed by w1 and w2"),
        ('[containers.w]\ncount = 2\naddress = "10.0.3.5"\n', "doc.toml:3: containers.w."
         "address: 2 containers cannot share the address 10.0.3.5: use auto"),
    ],
)  # fmt: skip
def test_one_clear_line_for_each_bad_input(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_all_problems_at_once_in_line_order() -> None:
    found = problems('[containers.a]\nttys = "x"\nmemroy = 1\n[containers.b]\nswapp = "1G"\n')
    assert [p.split(":")[1] for p in found] == ["2", "3", "5"]


def test_toml_syntax_error_names_the_line() -> None:
    assert "at line 2" in problems("[containers.a]\nmemory = \n")[0]


def test_json_errors_name_the_line_too() -> None:
    text = '{\n  "containers": {\n    "a": {\n      "ttys": "two"\n    }\n  }\n}\n'
    assert problems(text, "json") == [
        "doc.toml:4: containers.a.ttys: must be an integer, not 'two'"
    ]


def test_spec_round_trips_through_its_fields() -> None:
    for spec in parse(GOOD).containers:
        back = parse(json.dumps(document.one(spec)), "json").containers[0]
        for f in dataclasses.fields(spec):
            if f.name not in ("declared", "where", "from_count"):
                assert getattr(spec, f.name) == getattr(back, f.name), (spec.name, f.name)


def test_env_paths_are_relative_to_the_document() -> None:
    assert ENV.base_dir.is_absolute()
    doc = parse('[containers.a]\nssh_keys = ["k.pub", "/abs.pub"]\n')
    assert doc.containers[0].ssh_keys == ("/srv/docs/k.pub", "/abs.pub")
