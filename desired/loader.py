"""Reading desired-state YAML: files and folders to validated documents or errors.

Every problem becomes a `DocumentError` (`file:line: path.to.field: message`)
pointing at the offending key or value. Loading never stops at the first
problem and never raises on bad input: a run reports every error of every
document of every file. Cross-document rules live in `validate.py`.
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from .errors import DocumentError, one_line  # noqa: F401  (re-exported: loader.DocumentError)
from .files import YAML_SUFFIXES, expand_paths, read_text  # noqa: F401
from .limits import (
    ETCD_MAX_REQUEST_BYTES, MAX_ALIAS_VALUES, MAX_DOCUMENT_BYTES, MAX_FILE_BYTES, format_bytes,
)
from .models import API_VERSION, KINDS, MODELS, Document
from .yamlnodes import AliasBomb, AliasBudget, RecursiveDocument, locate, node_line, to_plain

@dataclass(frozen=True)
class Source:
    """One document as written: its file, YAML node, plain data and model.

    `model` is None when the document itself is invalid; cross-document rules
    still see its kind and name so they do not report it as missing.
    """
    file: str
    line: int
    data: Any
    node: Any = field(default=None, compare=False, repr=False)
    model: Optional[Document] = None

    @property
    def kind(self) -> Optional[str]:
        kind = self.data.get("kind") if isinstance(self.data, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def name(self) -> Optional[str]:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else None

    def error(self, loc: Iterable[Any], message: str) -> DocumentError:
        """An error at `loc` (pydantic-style path) inside this document."""
        if self.node is None:
            return DocumentError(self.file, self.line, _dotted(loc), message)
        line, path, _ = locate(self.node, loc, self.line)
        return DocumentError(self.file, line, path, message)


@dataclass(frozen=True)
class Loaded:
    sources: tuple[Source, ...]
    errors: tuple[DocumentError, ...]
    # a file that could not be parsed hides its documents: rules about
    # something missing would then be guesses, so validate.py skips them
    complete: bool
    files: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.errors


def _dotted(loc: Iterable[Any]) -> str:
    from .yamlnodes import join_path
    return join_path([f"[{e}]" if isinstance(e, int) else str(e) for e in loc])


# --- files -------------------------------------------------------------------

def load_paths(paths: Iterable[str | os.PathLike]) -> Loaded:
    files, errors = expand_paths(paths)
    sources: list[Source] = []
    complete = not errors
    for path in files:
        text, problem = read_text(path)
        if problem is not None:
            errors.append(problem)
            complete = False
            continue
        loaded = load_text(text, str(path))
        sources.extend(loaded.sources)
        errors.extend(loaded.errors)
        complete = complete and loaded.complete
    return Loaded(tuple(sources), tuple(sorted(errors, key=_order)), complete,
                  tuple(str(f) for f in files))


def _order(error: DocumentError) -> tuple:
    return (error.file, error.line, error.path, error.message)


# --- one file ------------------------------------------------------------------

def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_text(text: str, file: str = "<stdin>") -> Loaded:
    """Parse every document of one file, then validate each on its own."""
    sources: list[Source] = []
    errors: list[DocumentError] = []
    complete = True
    if len(text) > MAX_FILE_BYTES:
        error = DocumentError(file, 0, "", f"input is over {format_bytes(MAX_FILE_BYTES)}; at most"
                                           " that per file (split the documents over several files)")
        return Loaded((), (error,), False)
    budget = AliasBudget(MAX_ALIAS_VALUES)
    try:
        for node in _yaml().load_all(text):
            if node is None:
                continue  # an empty document (a trailing `---`) is no document
            source, problems = _build(node, file, budget)
            errors.extend(problems)
            if source is not None:
                sources.append(source)
    except MarkedYAMLError as exc:
        errors.append(_syntax_error(exc, file))
        complete = False
    except ReaderError as exc:
        errors.append(_reader_error(exc, text, file))
        complete = False
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        # ruamel raises several unmarked error types on odd input (bad
        # characters, complex keys); each is still the operator's file to fix
        errors.append(DocumentError(file, 1, "", f"cannot parse YAML: {exc}"))
        complete = False
    return Loaded(tuple(sources), tuple(sorted(errors, key=_order)), complete)


def _reader_error(exc: ReaderError, text: str, file: str) -> DocumentError:
    """A character YAML does not allow (NUL, most control characters): its
    line and column, from the offset the reader reports."""
    position = exc.position if isinstance(exc.position, int) else 0
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    char = exc.character  # ruamel passes ord(character)
    code = f"#x{char:04x}" if isinstance(char, int) else repr(char)
    return DocumentError(file, line, "", f"YAML: character {code} at column {column} is not allowed"
                                         f" ({exc.reason}); remove it")


def _syntax_error(exc: MarkedYAMLError, file: str) -> DocumentError:
    mark = exc.problem_mark or exc.context_mark
    problem, context = str(exc.problem or ""), str(exc.context or "")
    # An unclosed bracket or quote is found at the end of the file, and a key
    # without ':' on the line after it: the line to edit is where it started.
    if exc.context_mark is not None and (
            "stream end" in problem or "end of stream" in problem
            or context.startswith("while scanning a simple key")):
        mark = exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "; ".join(parts) if parts else str(exc).splitlines()[0]
    if "duplicate key" in message or type(exc).__name__ == "DuplicateKeyError":
        message = " ".join(str(exc.problem or message).split())
    return DocumentError(file, line, "", f"YAML: {message}")


def _build(node: Any, file: str, budget: AliasBudget) -> tuple[Optional[Source], list[DocumentError]]:
    start = node_line(node)
    try:
        budget.spend(node)      # measured before anything is expanded
        data = to_plain(node)
    except (RecursiveDocument, AliasBomb) as exc:
        return None, [DocumentError(file, start, "", str(exc))]
    stored = len(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=str).encode("utf-8"))
    if stored > MAX_DOCUMENT_BYTES:
        # one document is one etcd put: it cannot be split over transactions
        return None, [DocumentError(file, start, "", (
            f"document is {format_bytes(stored)} as stored; at most {format_bytes(MAX_DOCUMENT_BYTES)}"
            f" (etcd takes at most {format_bytes(ETCD_MAX_REQUEST_BYTES)} per request)"))]
    if not isinstance(data, dict):
        return None, [DocumentError(
            file, start, "", "a document must be a mapping with apiVersion, kind, metadata, spec")]
    source = Source(file=file, line=start, data=data, node=node)
    errors = _check_header(source)
    model_cls = MODELS.get(data.get("kind")) if isinstance(data.get("kind"), str) else None
    if model_cls is None:
        return source, errors
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(source, exc))
        return source, errors
    if errors:
        return source, errors
    return Source(file=file, line=start, data=data, node=node, model=model), errors


def _check_header(source: Source) -> list[DocumentError]:
    """apiVersion and kind, reported once each on their own line."""
    data, errors = source.data, []
    kinds = ", ".join(KINDS)
    if "kind" not in data:
        errors.append(DocumentError(source.file, source.line, "kind",
                                    f"required field kind is missing; one of {kinds}"))
    elif data["kind"] not in MODELS:
        errors.append(source.error(("kind",), f"unknown kind {data['kind']!r}; one of {kinds}"))
    if "apiVersion" not in data:
        errors.append(DocumentError(source.file, source.line, "apiVersion",
                                    f"required field apiVersion is missing; write {API_VERSION}"))
    elif data["apiVersion"] != API_VERSION:
        errors.append(source.error(
            ("apiVersion",), f"unsupported apiVersion {data['apiVersion']!r}; use {API_VERSION}"))
    return errors


# --- pydantic errors to file:line -------------------------------------------------

def _pydantic_errors(source: Source, exc: ValidationError) -> list[DocumentError]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        if loc[:1] in (("apiVersion",), ("kind",)):
            continue  # _check_header already said it better
        loc, message = _explain(source, loc, err)
        out.append(source.error(loc, message))
    return out


def _explain(source: Source, loc: tuple, err: dict) -> tuple[tuple, str]:
    kind, msg = err.get("type", ""), str(err.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "missing":
        return loc, f"required field {loc[-1]!s} is missing" if loc else "required field missing"
    if kind == "extra_forbidden":
        return loc, _unknown_field(str(loc[-1]))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return loc + ("type",), _bad_tag(err, kind)
    if kind == "value_error" and msg.startswith("warn") and ("fail" in msg):
        # the rule is about warn relative to fail: point at warn, the usual edit
        _, _, reached = locate(source.node, loc) if source.node is not None else (0, "", None)
        if isinstance(reached, dict) and "warn" in reached:
            return loc + ("warn",), msg
    value = err.get("input")
    if kind not in ("value_error",) and not isinstance(value, (dict, list)) and value is not None:
        msg = f"{msg} (got {value!r})"
    return loc, msg


def _bad_tag(err: dict, kind: str) -> str:
    ctx = err.get("ctx") or {}
    if kind == "union_tag_not_found":
        return "required field type is missing"
    return f"unknown type {ctx.get('tag')!r}; one of {ctx.get('expected_tags', '')}"


def _unknown_field(name: str) -> str:
    # never the name itself: a field of another model (`user` on a systemd
    # actuator) is no typo, and "did you mean user?" helps nobody
    close = difflib.get_close_matches(name, sorted(all_field_names() - {name}), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown field {name!r}{hint}"


_FIELD_NAMES: set[str] = set()


def all_field_names() -> set[str]:
    """Every field name of every model, for `did you mean` hints."""
    if not _FIELD_NAMES:
        from pydantic import BaseModel

        seen: set[type] = set()

        def walk(cls: type) -> None:
            if cls in seen:
                return
            seen.add(cls)
            for name, info in cls.model_fields.items():
                _FIELD_NAMES.add(name)
                for sub in _model_types(info.annotation):
                    if issubclass(sub, BaseModel):
                        walk(sub)

        for cls in MODELS.values():
            walk(cls)
    return _FIELD_NAMES


def _model_types(annotation: Any) -> list[type]:
    from typing import get_args
    found, stack = [], [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type):
            found.append(item)
        stack.extend(get_args(item))
    return found
