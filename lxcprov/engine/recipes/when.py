"""The tiny condition language of recipe `when` keys.

A `when` is a Python-like expression over the facts (``init == "systemd"``,
``init in ["sysvinit", "busybox"] and ttys > 0``, ``not autodev``). It is parsed with
``ast`` and evaluated by walking a small whitelist of node types: no calls, no
attributes, no names other than the facts, so a recipe file cannot run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping

_COMPARE: dict[type[ast.cmpop], Callable[[object, object], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,  # type: ignore[dict-item]
    ast.LtE: operator.le,  # type: ignore[dict-item]
    ast.Gt: operator.gt,  # type: ignore[dict-item]
    ast.GtE: operator.ge,  # type: ignore[dict-item]
    ast.In: lambda a, b: a in b,  # type: ignore[operator]
    ast.NotIn: lambda a, b: a not in b,  # type: ignore[operator]
}


class WhenError(ValueError):
    pass


MAX_LENGTH = 500


def compile_when(expr: str, names: set[str]) -> ast.Expression:
    """Parse and check expr; raises WhenError naming what is not allowed."""
    # A condition on a few facts is a line; Python's parser recurses (and allocates) with
    # the nesting of what it is given: `not not ...` 3000 deep overflowed its stack.
    if len(expr) > MAX_LENGTH:
        raise WhenError(f"`when` is {len(expr)} characters long; at most {MAX_LENGTH}")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise WhenError(f"`when` does not parse: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise WhenError("`when` is nested too deeply") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise WhenError(
                    f"`when` uses unknown fact {node.id!r} (known: {', '.join(sorted(names))})"
                )
        elif isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARE:
                    raise WhenError(f"`when` uses an unsupported comparison {type(op).__name__}")
        elif not isinstance(
            node,
            ast.Expression
            | ast.BoolOp
            | ast.And
            | ast.Or
            | ast.UnaryOp
            | ast.Not
            | ast.Constant
            | ast.List
            | ast.Tuple
            | ast.Load
            | ast.cmpop,
        ):
            raise WhenError(f"`when` may not contain {type(node).__name__}")
    return tree


def evaluate(tree: ast.Expression, facts: Mapping[str, object]) -> bool:
    return bool(_eval(tree.body, facts))


def _eval(node: ast.expr, facts: Mapping[str, object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return facts[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, facts) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, facts)
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, facts) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, facts)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, facts)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise WhenError(f"cannot evaluate {type(node).__name__}")
