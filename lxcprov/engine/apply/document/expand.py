"""A declaration's containers: `[containers.web] count = 3` declares web1, web2, web3 (as
`new --count`), `[containers."web-{n}"] count = 3` declares web-1, web-2, web-3; each name
a valid container name, declared once in the document."""

from __future__ import annotations

from lxcprov.engine.apply.document.declared import Declared
from lxcprov.engine.apply.document.problems import Problems
from lxcprov.engine.apply.document.spec import ContainerSpec, Env
from lxcprov.engine.apply.document.values import spec_values
from lxcprov.engine.apply.locate import Where, dotted
from lxcprov.errors import LxcprovError
from lxcprov.system import lxc


def expand(
    declared: list[Declared], problems: Problems, where: Where, env: Env
) -> list[ContainerSpec]:
    out: list[ContainerSpec] = []
    first: dict[str, str] = {}  # name -> the declaration that declared it first
    for d in declared:
        values = spec_values(d, problems, env)
        for name in _names(d, problems):
            try:
                lxc.check_name(name)
            except LxcprovError:
                problems.add(d.path, f"{name!r} is not a container name (letters, digits and "
                             "dashes, at most 63; it becomes the hostname)")  # fmt: skip
                continue
            if name in first:
                collides = " (a count collides with another name)" if d.count else ""
                problems.add(d.path, f"declares {name}, which {first[name]} declares too"
                             + collides)  # fmt: skip
                continue
            first[name] = dotted(d.path)
            spec = ContainerSpec(
                name=name,
                declared=where.at(d.path),
                from_count=d.count is not None,
                given=frozenset(d.values),
                where={k: where.at(p) for k, p in d.origins.items()},
                **values,
            )
            out.append(spec)
    return out


def _names(d: Declared, problems: Problems) -> list[str]:
    if "{n}" in d.key:
        if d.count is None:
            problems.add(d.path, "a name with {n} needs a count")
            return []
        return [d.key.replace("{n}", str(i)) for i in range(1, d.count + 1)]
    if d.count is not None:
        return [f"{d.key}{i}" for i in range(1, d.count + 1)]
    return [d.key]
