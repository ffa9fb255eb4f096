#!/usr/bin/env bash
# Re-vendor what the Cockpit page uses from the npm registry (no node_modules, no build):
#   PatternFly 4's base CSS and the components the page uses -> lxcprov/vendor/patternfly.css
#   @xterm/xterm                                             -> lxcprov/vendor/xterm.{js,css}
# with their licenses and VERSIONS. Fonts are not vendored: the page uses the Red Hat fonts
# that cockpit-ws serves (/cockpit/static/fonts), as Cockpit's own pages do.
# Usage: cockpit/vendor.sh [PATTERNFLY_VERSION] [XTERM_VERSION]
set -euo pipefail
pf=${1:-4.224.5}      # the last PatternFly 4: Cockpit 287's pages use PF4 (pf-c-*, pf-theme-dark)
xterm=${2:-6.0.0}
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/lxcprov/vendor
# The PatternFly components the page's HTML and JS use (class pf-c-NAME).
components=(Alert Backdrop Button Check CodeBlock DescriptionList EmptyState Form FormControl
            HelperText Label ModalBox Radio Spinner Table Tabs Title)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mkdir pf xt
npm pack --silent "@patternfly/patternfly@$pf" >/dev/null
tar xzf "patternfly-patternfly-$pf.tgz" -C pf
npm pack --silent "@xterm/xterm@$xterm" >/dev/null
tar xzf "xterm-xterm-$xterm.tgz" -C xt
mkdir -p "$dest"

# patternfly-base.css without its @font-face rules (they point at fonts not vendored), then
# each component's CSS, in the order listed.
python3 - "$tmp/pf/package" "$dest/patternfly.css" "$pf" "${components[@]}" <<'PY'
import re, sys
root, out, version, *components = sys.argv[1:]
base = open(f"{root}/patternfly-base.css").read()
base = re.sub(r"@font-face\s*\{[^}]*\}\s*", "", base)
parts = [f"/* @patternfly/patternfly {version} (MIT, see LICENSE-patternfly): patternfly-base.css "
         f"without @font-face, and the components {', '.join(components)}. "
         "Made by cockpit/vendor.sh; do not edit. */\n", base]
for name in components:
    kebab = re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
    parts.append(open(f"{root}/components/{name}/{kebab}.css").read())
open(out, "w").write("\n".join(parts))
PY
# The npm package ships no license file; its package.json says MIT. The MIT text, as in
# PatternFly's repository (github.com/patternfly/patternfly, LICENSE.txt):
license=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["license"])' \
    "$tmp/pf/package/package.json")
[ "$license" = MIT ] || { echo "PatternFly's license is now $license: check it" >&2; exit 1; }
cat > "$dest/LICENSE-patternfly" <<'TXT'
@patternfly/patternfly: "license": "MIT" (its package.json; the package has no license file)

MIT License

Copyright (c) Red Hat, Inc.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
TXT
# xterm: the UMD build (sets window.Terminal), its CSS; the source map is not vendored.
sed '/^\/\/# sourceMappingURL=/d' "$tmp/xt/package/lib/xterm.js" > "$dest/xterm.js"
cp "$tmp/xt/package/css/xterm.css" "$dest/xterm.css"
cp "$tmp/xt/package/LICENSE" "$dest/LICENSE-xterm"
cat > "$dest/VERSIONS" <<TXT
@patternfly/patternfly $pf  MIT  patternfly.css (base + ${components[*]})  LICENSE-patternfly
@xterm/xterm $xterm  MIT  xterm.js, xterm.css  LICENSE-xterm
fetched with npm pack by cockpit/vendor.sh
TXT
ls -l "$dest"
