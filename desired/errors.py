"""`DocumentError`: one problem in the documents, printed as one `file:line: path: message` line."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class DocumentError:
    """One problem, with where to fix it."""
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        # line 0: about the file as a whole (cannot read it, no such file)
        where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        message = one_line(self.message)
        return where + (f"{one_line(self.path)}: {message}" if self.path else message)


def one_line(text: str) -> str:
    """Every error is one line: parser texts span lines, and a key or value
    may hold a CR or NUL; those are shown escaped, as Python would."""
    joined = re.sub(r"[ \t]*\n[ \t]*", " ", text.strip(" \t\n"))
    return "".join(repr(c)[1:-1] if ord(c) < 0x20 or ord(c) == 0x7f else c for c in joined)
