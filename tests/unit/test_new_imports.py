"""What a plain `new` imports before its clone: the modules of options it was not given
are left out (each import is paid by every `new`, before the container exists)."""

from __future__ import annotations

import subprocess
import sys

# --set (ops.settings and its settings table) and --publish (ops.forwards) only.
LEFT_OUT = ("lxcprov.ops.settings", "lxcprov.engine.settings_table", "lxcprov.ops.forwards")


def test_ops_new_does_not_import_what_only_some_options_need() -> None:
    code = "import sys, lxcprov.ops.new\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "lxcprov.ops.new" in loaded
    assert [m for m in LEFT_OUT if m in loaded] == []
