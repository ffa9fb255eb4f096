"""The `image` key of apply documents: a reference as `new --image` takes it, its relative
path anchored at the document's directory, never with a template; what the planner does
with it against a container's recorded origin; the origin record that holds it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from lxcprov.engine import imageref
from lxcprov.engine.apply import document, schema
from lxcprov.engine.apply import plan as P
from lxcprov.engine.apply.plan import HostView, Observed, Options
from lxcprov.errors import StateFileError
from lxcprov.system import lxcconf, origin
from lxcprov.system.netintent import NetIntent
from lxcprov.system.origin import Origin
from tests.unit.apply.docs import V1, parse, problems

HOST = HostView(V1, "br0")
IMAGE = Origin("", image="/srv/docs/rootfs.tar.xz", image_digest="sha256:" + "a" * 64)


def _seen(made: Origin) -> Observed:
    return Observed("web", "/lxc", "RUNNING", made_by_lxcprov=True, origin=made,
                    privileged=False, isolated=False,
                    config=tuple(lxcconf.parse("lxc.uts.name = web\n")),
                    intent=NetIntent("dhcp", "br0", owner="web@/lxc"))  # fmt: skip


def _plan(text: str, made: Origin, **opts: bool) -> list[P.Action]:
    spec = parse(f"[containers.web]\n{text}").containers[0]
    cp = P.plan_container(spec, _seen(made), HOST, Options(**opts))
    assert not cp.error, cp.error
    return list(cp.actions)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("rootfs.tar.xz", "/srv/docs/rootfs.tar.xz"),  # relative: to the document
        ("./img/../rootfs.tar", "/srv/docs/rootfs.tar"),
        ("/abs/rootfs.tar.zst", "/abs/rootfs.tar.zst"),
        ("oci:layout:v1", "oci:/srv/docs/layout:v1"),
        ("oci:/srv/layout", "oci:/srv/layout"),
        ("docker://127.0.0.1:5000/team/app:2", "docker://127.0.0.1:5000/team/app:2"),
    ],
)
def test_an_image_alone_is_read_with_its_path_anchored(given: str, read: str) -> None:
    (spec,) = parse(f'[containers.a]\nimage = "{given}"\n').containers
    assert (spec.image, spec.template) == (read, None)
    # Through JSON (export-spec --json, the Ansible module) it comes back the same.
    fields = document.to_fields(spec)
    assert fields["image"] == read
    text = json.dumps({"version": 1, "containers": {"a": fields}})
    assert parse(text, "json", "<stdin>").containers[0].image == read


def test_an_image_with_a_template_is_one_line_at_the_image() -> None:
    assert problems('[containers.a]\ntemplate = "busybox"\nimage = "/r.tar"\n') == [
        "doc.toml:3: containers.a.image: image makes the container from an image: template "
        "cannot go with it (drop one of them)"
    ]
    (line,) = problems('[containers.a]\nimage = "/r.tar"\nrelease = "edge"\n')
    assert "release cannot go with it" in line
    # A profile's template meets a container's image: still one line, at the image.
    (line,) = problems('[profiles.p]\ntemplate = "debian"\n'
                       '[containers.a]\nextends = "p"\nimage = "/r.tar"\n')  # fmt: skip
    assert line.startswith("doc.toml:5: containers.a.image:") and "template cannot go" in line


def test_a_reference_new_would_refuse_is_refused_when_the_document_loads() -> None:
    (line,) = problems('[containers.a]\nimage = "rootfs.zip"\n')
    assert line == "doc.toml:2: containers.a.image: 'rootfs.zip' is not an image lxcprov knows"


def test_the_schema_has_image_as_a_string() -> None:
    validator = jsonschema.Draft202012Validator(schema.schema())
    assert validator.is_valid(tomllib.loads('[containers.a]\nimage = "/r.tar"\n'))
    assert not validator.is_valid(tomllib.loads("[containers.a]\nimage = 3\n"))
    (line,) = problems("[containers.a]\nimage = 3\n")
    assert "containers.a.image" in line


def test_the_same_image_plans_nothing_and_another_waits_for_replace() -> None:
    assert not [a for a in _plan('image = "rootfs.tar.xz"\n', IMAGE) if a.pending]
    other = _plan('image = "/srv/other.tar"\n', IMAGE)
    assert other[0].kind == "replace" and not other[0].pending
    assert other[0].reason == "image /srv/docs/rootfs.tar.xz -> image /srv/other.tar"
    assert "needs --replace" in other[0].blocked
    assert [a.kind for a in _plan('image = "/srv/other.tar"\n', IMAGE, replace=True)] == ["replace"]


def test_an_image_for_a_template_and_the_reverse_need_a_new_rootfs() -> None:
    (to_image,) = [a for a in _plan('image = "/r.tar"\n', Origin("busybox")) if a.blocked]
    assert to_image.reason == "template busybox -> image /r.tar"
    (to_template,) = [a for a in _plan('template = "busybox"\n', IMAGE) if a.blocked]
    assert to_template.reason == "image /srv/docs/rootfs.tar.xz -> template busybox"


def test_a_missing_container_is_created_from_its_image() -> None:
    spec = parse('[containers.web]\nimage = "/r.tar"\n').containers[0]
    cp = P.plan_container(spec, Observed("web", "/lxc"), HOST, Options())
    assert [(a.kind, a.after) for a in cp.actions] == [("create", "image /r.tar")]
    bare = parse("[containers.web]\n").containers[0]
    error = P.plan_container(bare, Observed("web", "/lxc"), HOST, Options()).error
    assert "gives no template or image" in error


def test_the_origin_record_keeps_the_image_and_reads_old_records(tmp_path: Path) -> None:
    origin.save(tmp_path, IMAGE)
    assert origin.load(tmp_path) == IMAGE
    templated = Origin("debian", "bookworm", ("--arch", "amd64"))
    origin.save(tmp_path, templated)
    assert origin.load(tmp_path) == templated
    # A record written before images were recorded has no image keys.
    old = origin.path_for(tmp_path)
    old.write_text('template = "busybox"\nrelease = ""\ntemplate_args = []\n')
    assert origin.load(tmp_path) == Origin("busybox")
    # `new --image` before it recorded images: nothing but the id mode (observe asks the base).
    old.write_text('template = ""\nrelease = ""\ntemplate_args = []\nisolated = true\n')
    assert origin.load(tmp_path) == Origin("", isolated=True)
    old.write_text('release = ""\n')
    with pytest.raises(StateFileError, match="`template` is missing"):
        origin.load(tmp_path)


def test_anchoring_leaves_registries_and_absolute_paths_alone() -> None:
    assert imageref.anchored("docker://r.example/a/b@sha256:" + "0" * 64, "/x").startswith(
        "docker://r.example/a/b@"
    )
    assert imageref.anchored("oci:dir", "/x") == "oci:/x/dir"
