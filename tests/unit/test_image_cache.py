"""The registry image cache and what `images` prints (lxcprov.ops.images, lxcprov.cli.images),
an OCI descriptor's size (lxcprov.system.ocilayout), and the hint for a missing program
(lxcprov.system.run.which)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from lxcprov.cli import images as images_cli
from lxcprov.engine import imageref
from lxcprov.errors import ImageError, MissingDependencyError
from lxcprov.ops import images
from lxcprov.ops.progress import Progress
from lxcprov.system import run


def test_repositories_whose_labels_match_get_their_own_folders(tmp_path: Path) -> None:
    one = images._layout_of(tmp_path, imageref.parse("docker://127.0.0.1:5128/a_b:1"))
    two = images._layout_of(tmp_path, imageref.parse("docker://127.0.0.1:5128/a/b:1"))
    assert one != two
    assert one.parent == two.parent == images.cache_dir(tmp_path)
    assert one.name.startswith("127.0.0.1_5128_a_b-")  # still readable
    # the tags of one repository share its folder
    assert images._layout_of(tmp_path, imageref.parse("docker://127.0.0.1:5128/a/b:2")) == two


def _cached(**kw: object) -> images.Cached:
    fields: dict[str, object] = {
        "base": "lxcprov-base-image-abc-def",
        "reference": "docker://127.0.0.1:5128/app:1",
        "digest": "sha256:" + "a" * 64,
        "size": 12_345_678,
        "kind": "application",
        "used_by": ["web1"],
    }
    fields.update(kw)
    return images.Cached(**fields)  # type: ignore[arg-type]


def test_images_prints_its_table_on_stdout_with_human_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    images_cli.show([_cached(), _cached(reference="/srv/rootfs.tar", size=3 * 1024 * 1024,
                                        kind="system", used_by=[])])  # fmt: skip
    out, errors = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["REFERENCE", "DIGEST", "SIZE", "KIND", "USED_BY"]
    assert lines[1].split() == ["docker://127.0.0.1:5128/app:1", "sha256:aaaaaaaaaaaa",
                                "12M", "application", "web1"]  # fmt: skip
    assert lines[2].split() == ["/srv/rootfs.tar", "sha256:aaaaaaaaaaaa", "3M", "system", "-"]
    assert errors == ""


def test_an_incomplete_image_is_a_row_and_a_note_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    images_cli.show([_cached(incomplete=True, reference="", digest="", size=0, used_by=[])])
    out, errors = capsys.readouterr()
    assert out.splitlines()[1].split() == ["lxcprov-base-image-abc-def", "-", "-", "INCOMPLETE",
                                           "-"]  # fmt: skip
    assert "lxcprov images rm lxcprov-base-image-abc-def" in errors


def test_no_images_is_a_note_on_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    images_cli.show([])
    out, errors = capsys.readouterr()
    assert out == "" and "no images yet" in errors


@pytest.mark.parametrize("stated", [99, 101])
def test_a_layer_not_the_size_its_descriptor_states_is_refused(tmp_path: Path, stated: int) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 100)
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    layer = images.Layer("layer 1", blob, digest, stated)
    with pytest.raises(ImageError) as caught, images._spooled(tmp_path / "spool", layer):
        pass
    assert caught.value.message == (
        f"layer 1: 100 bytes, not the {stated} its descriptor states (the image is damaged "
        "or altered)"
    )
    with images._spooled(tmp_path / "spool", images.Layer("l", blob, digest, 100)) as (s, got):
        assert (s.size, got) == (100, digest)


# It says whether the repository's fetch lock is held while it runs (it must be).
_FAILING_SKOPEO = """#!{python}
import fcntl, os, sys
layout = sys.argv[-1].removeprefix("oci:").rsplit(":", 1)[0]
os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
open(os.path.join(layout, "blobs", "sha256", "partial"), "w").close()
lock = os.path.join(layout, "..", "..", "locks", "images-" + os.path.basename(layout) + ".lock")
try:
    fcntl.flock(os.open(lock, os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)
    held = "free"
except FileNotFoundError:
    held = "free"
except BlockingIOError:
    held = "held"
print(f'time="..." level=fatal msg="manifest unknown (lock {{held}})"', file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture
def failing_skopeo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "skopeo").write_text(_FAILING_SKOPEO.format(python=sys.executable))
    (bindir / "skopeo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.usefixtures("failing_skopeo")
def test_a_failed_fetch_removes_the_folder_it_made(tmp_path: Path) -> None:
    lxcpath = tmp_path / "lxc"
    ref = imageref.parse("docker://127.0.0.1:5128/nothing:1")
    with pytest.raises(ImageError, match=r"cannot fetch .*manifest unknown \(lock held\)"):
        images._resolve_oci(lxcpath, ref, False, Progress())
    assert not images._layout_of(lxcpath, ref).exists()
    assert list(images.cache_dir(lxcpath).iterdir()) == []


@pytest.mark.usefixtures("failing_skopeo")
def test_a_failed_fetch_keeps_a_folder_an_earlier_fetch_made(tmp_path: Path) -> None:
    lxcpath = tmp_path / "lxc"
    ref = imageref.parse("docker://127.0.0.1:5128/app:2")
    layout = images._layout_of(lxcpath, ref)
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "index.json").write_text('{"manifests": []}')
    with pytest.raises(ImageError, match="cannot fetch"):
        images._resolve_oci(lxcpath, ref, True, Progress())
    assert (layout / "index.json").is_file()


def test_a_missing_program_names_its_own_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingDependencyError) as caught:
        run.which("skopeo")
    assert caught.value.message == "skopeo is not installed"
    assert caught.value.hint == "apt-get install skopeo"
    assert run.install_hint("zstd") == "apt-get install zstd"
    assert run.install_hint("dnsmasq") == "apt-get install dnsmasq-base"
    assert run.install_hint("/usr/sbin/mkfs.ext4") == "apt-get install e2fsprogs"
    assert run.install_hint("lxc-start").startswith("apt-get install lxc ")
    assert "apt-file search bin/frob" in run.install_hint("frob")
