"""`image` in apply documents: apply makes the container from a rootfs tarball, a second
apply changes nothing, export-spec writes the image back (not an empty template), and
that exported document applies as nothing to do; another image is a blocked replace."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lxcprov.system import origin
from tests.real.applyharness import apply, by_name, changed_kinds, write_doc
from tests.real.harness import Lxc, plain_busybox

pytestmark = pytest.mark.real


def _busybox_tar(lxc: Lxc, out: Path) -> Path:
    """A rootfs tarball of a busybox container plain lxc-create made (root's ids 0)."""
    plain_busybox(lxc, "src")
    subprocess.run(["tar", "-C", str(lxc.rootfs("src")), "--numeric-owner", "-J", "-c",
                    "-f", str(out), "."], check=True)  # fmt: skip
    subprocess.run(["lxc-destroy", "-P", str(lxc.path), "-n", "src"], check=True)
    return out


def test_an_apply_document_makes_a_container_from_an_image_and_exports_it(
    lxcpath: Lxc, tmp_path: Path
) -> None:
    image = _busybox_tar(lxcpath, tmp_path / "rootfs.tar.xz")
    # Relative: to the document's directory (the CLI runs elsewhere).
    text = 'version = 1\n[containers.ai1]\nimage = "rootfs.tar.xz"\nbridge = "none"\n'
    doc = write_doc(tmp_path / "site.toml", text)
    first = apply(lxcpath, doc)
    assert first["changed"] and changed_kinds(first, "ai1") == ["create"]
    assert lxcpath.attach("ai1", "hostname").stdout.strip() == "ai1"
    made = origin.load(lxcpath.path / "ai1")
    assert made is not None and (made.template, made.image) == ("", str(image))
    (cached,) = [b for b in lxcpath.path.iterdir() if b.name.startswith("lxcprov-base-image-")]
    assert made.image_digest.startswith("sha256:")
    assert made.image_digest in (cached / "lxcprov-base.toml").read_text()

    second = apply(lxcpath, doc)
    assert not second["changed"] and second["changes"] == 0

    exported = lxcpath.cli("export-spec").stdout
    assert f'[containers.ai1]\nimage = "{image}"\n' in exported
    assert "template" not in exported
    again = apply(lxcpath, write_doc(tmp_path / "exported.toml", exported))
    assert not again["changed"], again["containers"]

    # A record `new --image` wrote before it recorded images: the base's record says.
    record = origin.path_for(lxcpath.path / "ai1")
    record.write_text('template = ""\nrelease = ""\ntemplate_args = []\n')
    assert f'[containers.ai1]\nimage = "{image}"\n' in lxcpath.cli("export-spec").stdout
    origin.save(lxcpath.path / "ai1", made)

    # Another image is a new rootfs: blocked without --replace, as a new template is.
    other = write_doc(tmp_path / "other.toml", doc.read_text().replace("rootfs.tar.xz", "b.tar"))
    blocked = apply(lxcpath, other)
    assert by_name(blocked)["ai1"]["status"] == "blocked"
    (replace,) = [a for a in by_name(blocked)["ai1"]["actions"] if a["kind"] == "replace"]
    assert replace["reason"] == f"image {image} -> image {tmp_path / 'b.tar'}"
    assert "--replace" in replace["blocked"]
    assert lxcpath.attach("ai1", "hostname").stdout.strip() == "ai1"
