"""A scratch copy of the tree with one mutant applied, importable as `overseer`.

The copy has the installed layout (`<dir>/overseer/reconciler/...`, from
pyproject's package-dir mapping) and a regular `overseer/__init__.py`, so a
process with `PYTHONPATH=<dir>` imports it before the editable install of the
working tree (whose finder comes after the path on `sys.meta_path`); the child
checks that it did (child.py). Every edit must match its file exactly once:
a refactor that moves or rewrites the mutated line fails here, loudly, instead
of leaving a gauntlet that tests an unmutated tree.
"""
from __future__ import annotations

import difflib
import hashlib
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .catalogue import Mutant

ROOT = Path(__file__).resolve().parents[2]


class MutantDoesNotApply(Exception):
    """An edit's text is not in its file exactly once (the code moved on)."""


@dataclass(frozen=True)
class MutatedFile:
    module: str            # overseer.reconciler.agent.presence
    path: str              # the file in the scratch copy
    sha256: str            # of the mutated text: the child checks it imported this
    lines: tuple[int, ...]  # lines of the mutated file that differ from the original


def package_dirs(root: Path = ROOT) -> dict[str, str]:
    """`overseer.reconciler` -> `reconciler`, as pyproject maps them."""
    with open(root / "pyproject.toml", "rb") as f:
        return dict(tomllib.load(f)["tool"]["setuptools"]["package-dir"])


def module_path(path: str, dirs: dict[str, str]) -> tuple[str, str]:
    """A source file's (module name, path in the scratch copy)."""
    for package, directory in dirs.items():
        if path.startswith(directory.rstrip("/") + "/"):
            rest = Path(path[len(directory.rstrip("/")) + 1:])
            parts = [*package.split("."), *rest.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts), str(Path(*package.split(".")) / rest)
    raise MutantDoesNotApply(f"{path}: not in any package of pyproject's package-dir {sorted(dirs.values())}")


def apply_edits(mutant: Mutant, path: str, text: str) -> str:
    """The file's text with every edit of `mutant` to `path` applied in order."""
    for edit in mutant.edits:
        if edit.path != path:
            continue
        found = text.count(edit.old)
        if found != 1:
            first = edit.old.strip().splitlines()[0] if edit.old.strip() else repr(edit.old)
            raise MutantDoesNotApply(
                f"mutant {mutant.name}: {path}: the text to replace is there {found} times, not once "
                f"(starting {first!r}); update the mutant in tests/mutants/catalogue.py to the code as it is now")
        text = text.replace(edit.old, edit.new, 1)
    return text


def changed_lines(before: str, after: str) -> tuple[int, ...]:
    """Lines of `after` (1-based) that differ from `before`; a pure deletion
    marks the line that now stands where the deleted ones were."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            lines.update(range(j1 + 1, j2 + 1) if j2 > j1 else (j1 + 1,))
    return tuple(sorted(lines))


def mutated_texts(mutant: Mutant, root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """path -> (original text, mutated text) for every file the mutant edits."""
    out = {}
    for path in dict.fromkeys(edit.path for edit in mutant.edits):
        original = (root / path).read_text()
        out[path] = (original, apply_edits(mutant, path, original))
        if out[path][1] == original:
            raise MutantDoesNotApply(f"mutant {mutant.name}: {path}: its edits change nothing")
    return out


def build(mutant: Mutant, dest: Path, root: Path = ROOT) -> list[MutatedFile]:
    """Copy the packages into `dest/overseer/...` and apply `mutant` there."""
    texts = mutated_texts(mutant, root)   # first: a mutant that no longer applies copies nothing
    dirs = package_dirs(root)
    top = dest / "overseer"
    top.mkdir(parents=True)
    (top / "__init__.py").write_text('"""A scratch copy of Overseer for the mutation gauntlet."""\n')
    for package, directory in dirs.items():
        shutil.copytree(root / directory, dest / Path(*package.split(".")),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    files = []
    for path, (original, mutated) in texts.items():
        module, where = module_path(path, dirs)
        target = dest / where
        target.write_text(mutated)
        files.append(MutatedFile(module, str(target), hashlib.sha256(mutated.encode()).hexdigest(),
                                 changed_lines(original, mutated)))
    return files

