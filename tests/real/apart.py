"""Run a command in a mount namespace of its own where every container's disk image is let
go first, but those under KEEP ("" for none): `python -m tests.real.apart KEEP ARGV...`.

What lxcprov does for its own template runs (mountns.let_go_in_child), for the commands a
test runs by hand that copy the host's mounts for a long time (plain lxc-create runs its
template in such a copy): they would hold the disk images of other workers' tests, whose
resize, destroy or swap then waits for them, and refuses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lxcprov.system import mountns


def main() -> None:
    keep, argv = sys.argv[1], sys.argv[2:]
    mountns.let_go_in_child(Path(keep) if keep else None)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
