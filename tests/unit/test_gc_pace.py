"""A command keeps Python's own pace of cyclic garbage collection. A lxcprov that once
raised the young generation's threshold to 50 000 (7 ms off a `new`'s imports) made
`stats --watch` grow from 28 to 171 MB in five minutes and `metrics` serving from 33 to
61 MB: their loops allocate few objects net, so a young pass came about once in 14
minutes and each loop's cycles piled up until then."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_program_leaves_the_collectors_thresholds_as_python_sets_them() -> None:
    code = (
        "import gc; before = gc.get_threshold(); import lxcprov.cli.program, lxcprov.ops.new;"
        " print(before == gc.get_threshold(), gc.isenabled())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
