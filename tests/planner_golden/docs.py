"""The documents of a golden case, as data that validates back to equal models.

`model_dump` gives a duration as the float it was parsed to, which the
models refuse on the way back (a bare number is ambiguous: desired/units.py).
So the documents are written field by field: only the fields that were set,
each unit-typed value in a form its parser reads back exactly ("0.5s").
"""
from __future__ import annotations

import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel, BeforeValidator

from overseer.desired import units


def _seconds(value: float) -> str:
    return f"{Decimal(repr(float(value))):f}s"   # positional: the parser takes no exponent


def _lag(value: tuple) -> Any:
    unit, number = value
    return _seconds(number) if unit == "seconds" else number


# unit parsers -> how a parsed value is written back; the others read plain numbers
_WRITE_BACK = {units.parse_duration: _seconds, units.parse_size_or_duration: _lag}


def doc_data(model: BaseModel) -> dict:
    """A document (or part of one) as JSON data: set fields only, by name."""
    fields = type(model).model_fields
    return {name: _value(getattr(model, name), fields[name].annotation, fields[name].metadata)
            for name in sorted(model.model_fields_set) if name in fields}


def _writer(annotation: Any, metadata: list):
    for item in metadata:
        if isinstance(item, BeforeValidator) and item.func in _WRITE_BACK:
            return _WRITE_BACK[item.func]
    if typing.get_origin(annotation) is typing.Annotated:
        return _writer(typing.get_args(annotation)[0], list(annotation.__metadata__))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _writer(arg, [])
            if found:
                return found
    return None


def _inner(annotation: Any) -> Any:
    """The element annotation of list[X] / tuple[X, ...] / dict[K, X] (X: Any when unknown)."""
    while typing.get_origin(annotation) is typing.Annotated or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if args else Any
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    return args[-1] if args else Any


def _value(value: Any, annotation: Any, metadata: list) -> Any:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return doc_data(value)
    write = _writer(annotation, metadata)
    if write is not None:
        return write(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        inner = _inner(annotation)
        return {k: _value(v, inner, []) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        inner = _inner(annotation)
        return [_value(v, inner, []) for v in value]
    return value
