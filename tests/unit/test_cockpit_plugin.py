"""The Cockpit page's static files: what a browser test cannot see (the root session ignores
`superuser`) and what keeps the page honest (no HTML from data, labels, vendored CSS)."""

from __future__ import annotations

import json
import re
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "cockpit" / "lxcprov"
JS = (PLUGIN / "lxcprov.js").read_text()
HTML = (PLUGIN / "index.html").read_text()


def test_the_manifest_names_the_menu_entry_and_lets_xterm_style_itself() -> None:
    manifest = json.loads((PLUGIN / "manifest.json").read_text())
    assert manifest["menu"]["index"]["label"] == "Containers (LXC)"
    assert "'unsafe-inline'" in manifest["content-security-policy"]


def test_every_command_runs_lxcprov_with_superuser_try() -> None:
    assert 'const SPAWN = { superuser: "try", err: "message" };' in JS
    spawns = re.findall(r"cockpit\.spawn\(([^;]*?)\)", JS)
    assert spawns
    for call in spawns:
        assert call.startswith('["lxcprov"'), call
        assert call.endswith(", SPAWN"), call
    channels = re.findall(r"cockpit\.channel\(\{(.*?)\}\);", JS, re.S)
    assert len(channels) == 1
    assert 'spawn: ["lxcprov", "console", name]' in channels[0]
    assert 'superuser: "try"' in channels[0]
    assert "pty: true" in channels[0]


def test_nothing_lxcprov_prints_becomes_html() -> None:
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in JS


def test_no_inline_script_or_handler_cockpit_would_refuse() -> None:
    assert re.findall(r"<script(?![^>]*\bsrc=)", HTML) == []
    assert re.findall(r"\son[a-z]+=", HTML) == []


def test_every_form_control_has_a_label() -> None:
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', HTML))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", HTML):
        ident = re.search(r'\bid="([^"]+)"', tag)
        assert ident, tag
        assert ident.group(1) in labelled or "aria-label" in tag, tag


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()


def test_the_page_uses_only_vendored_patternfly_components() -> None:
    script = (PLUGIN.parent / "vendor.sh").read_text()
    listed = re.search(r"components=\(([^)]*)\)", script)
    assert listed
    vendored = {_kebab(n) for n in listed.group(1).split()}
    used = set(re.findall(r"pf-c-([a-z]+(?:-[a-z]+)*)", HTML + JS))
    assert used <= vendored, used - vendored
    css = (PLUGIN / "vendor" / "patternfly.css").read_text()
    for name in used:
        assert f".pf-c-{name}" in css


def test_vendored_files_have_versions_and_licenses() -> None:
    vendor = PLUGIN / "vendor"
    versions = (vendor / "VERSIONS").read_text()
    assert "@patternfly/patternfly 4." in versions
    assert "@xterm/xterm " in versions
    for name in ("patternfly.css", "xterm.js", "xterm.css", "LICENSE-patternfly", "LICENSE-xterm"):
        assert (vendor / name).stat().st_size > 0, name
    assert "MIT License" in (vendor / "LICENSE-patternfly").read_text()
    assert not (PLUGIN / "node_modules").exists()


def test_usage_comes_from_long_running_stats_processes_never_a_spawn_per_sample() -> None:
    spawns = re.findall(r"cockpit\.spawn\(([^;]*?)\)", JS)
    stats = [call for call in spawns if '"stats"' in call]
    assert stats == ['["lxcprov", "stats", "--json", "--watch", ...args], SPAWN'], stats
    assert "setInterval" not in JS  # the process paces the page, not a timer
    # Two callers: the container page (interval 2, its name) and the list (interval 5).
    assert JS.count("statsWatch([") == 2
    assert 'statsWatch(["--interval", "2", key]' in JS
    assert 'statsWatch(["--interval", "5", "--no-disk"]' in JS
