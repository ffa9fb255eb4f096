"""lxcprov's netlink reads import the part of pyroute2 they use, and the whole package is
still there for whoever asks for a name only its __init__ defines. Each case runs in a
fresh interpreter: what is imported is the point. The reads are of the loopback link,
which any process may dump."""

from __future__ import annotations

import subprocess
import sys

READ = """
import sys
from lxcprov.system.hostnet import netlink, observe
with netlink.route("reading lo") as ip:
    assert ip.link_lookup(ifname="lo"), "no loopback link read"
observe.tx_checksum_offload("lo")
loaded = sorted(m for m in sys.modules if m.startswith("pyroute2"))
"""


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_read_imports_iproute_and_ethtool_but_not_the_rest_of_pyroute2() -> None:
    out = _run(READ + "print(' '.join(loaded))")
    loaded = set(out.split())
    assert {"pyroute2.iproute.linux", "pyroute2.ethtool.ethtool"} <= loaded
    # What only the package's __init__ pulls in: the database layers, conntrack, plan9.
    assert [m for m in ("pyroute2.ndb.main", "pyroute2.ipdb", "pyroute2.conntrack",
                        "pyroute2.plan9.server") if m in loaded] == []  # fmt: skip


def test_pyroute2s_logger_keeps_its_null_handler() -> None:
    out = _run(READ + "import logging\nprint(logging.getLogger('pyroute2').handlers)")
    assert "NullHandler" in out


def test_a_name_only_the_package_defines_runs_its_init_once_and_is_the_same_class() -> None:
    out = _run(
        READ
        + "import threading, pyroute2.iproute.linux as linux\n"
        + "got = []\n"
        + "def ask():\n"
        + "    from pyroute2 import NDB, IPRoute\n"
        + "    got.append((NDB.__name__, IPRoute is linux.IPRoute))\n"
        + "ts = [threading.Thread(target=ask) for _ in range(4)]\n"
        + "[t.start() for t in ts]; [t.join() for t in ts]\n"
        + "import pyroute2\n"
        + "print(got, '__getattr__' in vars(pyroute2), 'pyroute2.ndb.main' in sys.modules)"
    )
    assert out.split() == ["[('NDB',", "True),", "('NDB',", "True),", "('NDB',", "True),",
                           "('NDB',", "True)]", "False", "True"]  # fmt: skip


def test_a_submodule_asked_of_the_package_does_not_run_its_init() -> None:
    out = _run(READ + "from pyroute2 import config\nprint('pyroute2.ndb.main' in sys.modules)")
    assert out.split() == ["False"]


def test_a_name_pyroute2_does_not_have_is_still_an_import_error() -> None:
    done = subprocess.run([sys.executable, "-c", READ + "from pyroute2 import NoSuchThing"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert "ImportError: cannot import name 'NoSuchThing'" in done.stderr


def test_when_the_whole_package_was_imported_first_it_is_left_as_it_is() -> None:
    out = _run("import pyroute2\n" + READ + "print('__getattr__' in vars(pyroute2))")
    assert out.split() == ["False"]
