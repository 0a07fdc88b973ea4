"""ruamel.yaml round-trip nodes: line lookups by pydantic `loc`, and plain values.

The loader keeps each document's node so an error can point at the line of
the offending key or value, not at the start of the document. ruamel counts
lines from 0; everything returned here counts from 1, like editors do.
"""
from __future__ import annotations

from typing import Any, Iterable

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean


class RecursiveDocument(ValueError):
    """An alias refers to one of its own ancestors: no finite document exists."""


class AliasBudget:
    """How many values aliases may still add in one file (desired/limits.py).

    `spend` walks a document once per distinct node, however often aliases
    repeat it, so a billion-laughs document is measured, not expanded."""

    def __init__(self, limit: int):
        self.limit, self.left = limit, limit

    def spend(self, node: Any) -> None:
        sizes: dict[int, int] = {}
        written = [0]  # values as written: each distinct container's own values, once
        expanded = _expanded(node, sizes, set(), written)
        added = expanded - written[0]
        if added > self.left:
            raise AliasBomb(
                f"YAML aliases expand this document to {expanded:,} values, {added:,} of them"
                f" copies made by aliases; at most {self.limit:,} may come from aliases in one"
                " file (an alias bomb?); write the repeated parts out or alias less")
        self.left -= added


class AliasBomb(ValueError):
    """Aliases would expand a document past AliasBudget's limit."""


def _expanded(value: Any, sizes: dict[int, int], active: set[int], written: list[int]) -> int:
    """Values `to_plain` would produce under `value`, each container computed
    once (`sizes` by id); `active` is the path from the root."""
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key in active:
        raise RecursiveDocument("an alias refers to its own ancestor")
    if key in sizes:
        return sizes[key]
    active.add(key)
    total = own = 1
    pairs = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for k, v in pairs:
        if k is not None:
            total, own = total + 1, own + 1
        total += _expanded(v, sizes, active, written)
        if not isinstance(v, (dict, list)):
            own += 1
    active.discard(key)
    sizes[key] = total
    written[0] += own
    return total


def node_line(node: Any, default: int = 1) -> int:
    """First line of a mapping or sequence node (1-based)."""
    lc = getattr(node, "lc", None)
    if lc is not None and getattr(lc, "line", None) is not None:
        return lc.line + 1
    return default


def _key_line(node: CommentedMap, key: Any, default: int) -> int:
    try:
        return node.lc.key(key)[0] + 1
    except (KeyError, TypeError, AttributeError, IndexError):
        # merged keys (`<<: *base`) carry no position of their own
        return default


def _item_line(node: CommentedSeq, index: int, default: int) -> int:
    try:
        return node.lc.item(index)[0] + 1
    except (KeyError, TypeError, AttributeError, IndexError):
        return default


def _find_key(node: CommentedMap, element: Any) -> Any:
    """The YAML key matching a loc element (YAML `1:` keys are ints, loc may say '1')."""
    if element in node:
        return element
    for key in node:
        if str(key) == str(element):
            return key
    return _MISSING


_MISSING = object()


def locate(root: Any, loc: Iterable[Any], start_line: int = 1) -> tuple[int, str, Any]:
    """Walk `loc` through the YAML tree: (line, dotted path, node reached).

    pydantic puts the discriminator tag of a union (a check's or actuator's
    `type` value) into `loc` right after the union's position; such an
    element names no YAML node and no field, so it is skipped. A `loc` element
    that is not in the YAML (a missing field) stops the walk at its parent,
    whose line is the one an operator has to edit.
    """
    node, line, parts, fresh = root, node_line(root, start_line), [], True
    for element in loc:
        if isinstance(node, CommentedMap):
            tag = node.get("type")
            if fresh and isinstance(element, str) and isinstance(tag, str) and element == tag:
                fresh = False
                continue
            key = _find_key(node, element)
            parts.append(str(element))
            if key is _MISSING:
                node = _MISSING
                continue
            line = _key_line(node, key, line)
            node, fresh = node[key], True
        elif isinstance(node, CommentedSeq):
            if isinstance(element, int) and 0 <= element < len(node):
                line = _item_line(node, element, line)
                parts.append(f"[{element}]")
                node, fresh = node[element], True
            elif isinstance(element, str):
                continue  # a union tag on a list item with a non-mapping value
            else:
                parts.append(f"[{element}]")
                node = _MISSING
        else:
            # scalars, or below a missing field: keep naming, keep the line
            parts.append(f"[{element}]" if isinstance(element, int) else str(element))
            node = _MISSING
    return line, join_path(parts), node


def join_path(parts: list[str]) -> str:
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else "." + part
    return text


def to_plain(value: Any, _stack: tuple = ()) -> Any:
    """ruamel's commented types to dict/list/str/int/float/bool/None.

    Dates and other YAML types stay as they are so pydantic rejects them in a
    string field instead of the loader guessing a spelling.
    """
    if isinstance(value, (dict, list)):
        if any(value is seen for seen in _stack):
            raise RecursiveDocument("an alias refers to its own ancestor")
        inner = _stack + (value,)
        if isinstance(value, dict):
            return {_plain_key(k): to_plain(v, inner) for k, v in value.items()}
        return [to_plain(v, inner) for v in value]
    if isinstance(value, ScalarBoolean) or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    tagged = getattr(value, "value", None)
    if type(value).__name__ == "TaggedScalar":
        return str(tagged)
    return value


def _plain_key(key: Any) -> Any:
    plain = to_plain(key)
    # keys must be hashable; a YAML complex key (`? [a, b]`) becomes its text
    try:
        hash(plain)
    except TypeError:
        return repr(plain)
    return plain
