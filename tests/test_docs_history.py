"""The docs describe the product, not how it was made; they cite only documents the repository has.

A development diary crept into the docs: issue and bug numbers, dated runs
told as a story ("2026-12-04 (later)"), work sessions and who fixed what.
The reader of a reference needs the product as it is and the current
figures, in tables with their date, commit and machine (docs/testing.md,
docs/benchmarks.md). And comments and docs cited design documents that ship
elsewhere, so a reader of the repository could not follow them. Each rule
below is a pattern with the sentence that tripped it in the message, and a
check that it still finds what it is meant to find.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"] + sorted(ROOT.glob("CHANGELOG.md"))

_ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(?:st|nd|rd|th))"
_DATE = r"\d{4}-\d{2}-\d{2}"

# (name, pattern, one sentence it must flag, one product sentence it must not)
DIARY = [
    ("an issue number", r"\bissues? ?#?\d+|(?<![\w&/#])#\d+\b(?!-)|\b(?:PR|pull request) ?#?\d+",
     "Idle cost (issue 12)", "a `#` comment, agent s2#1, a re-issue of the assignment"),
    ("a numbered bug", r"\bbugs? \d+",
     "a real bug, bug 15 above, fixed", "etcd before 3.5.13 has a bug that revokes leases"),
    ("a work session", rf"\b(?:{_ORDINAL}|this|that|last|previous|earlier|later|next|same|another|other) sessions?\b",
     "7 runs each, 2026-12-05, fifth session", "both run as the agent's user, in sessions of their own"),
    ("a run told as a story", rf"\((?:later|last|earlier)\)|\({_DATE},? (?:later|last|earlier)\b|{_DATE} \((?:later|last)",
     "### 2026-12-04 (later): 24,000 schedules", "seeds 1..2,000 (the `make test` batch)"),
    ("a dated heading", rf"^#+ .*{_DATE}",
     "### 2026-12-05: 100,000 schedules", "## Results of `make bench`"),
    ("a date as a turning point", rf"\b(?:since|until|enabled on|as of|before|after) {_DATE}\b",
     "Since 2026-12-05: a flap of 0.45 x leaseTTL is a blip", "| 2026-12-07 | 1008388 | 2-core |"),
    ("who did the work", r"\bthe lead\b|\b(?:a|the|another) helper\b|\breviewers?\b|\b(?:after|in|on) review\b",
     "seed 57/43 before the lead's fix", "the etcd leader stalled"),
    ("the code of a day", r"\btoday'?s code\b|\bon the final code\b",
     "no replay disagreed with the simulator's verdict on today's code", "on the code of commit 02992a6"),
]


def _findings(text: str, pattern: str) -> list[str]:
    """Each match with its line number; a sentence may wrap, so each paragraph is searched whole."""
    found, line = [], 1
    for block in re.split(r"(\n\s*\n)", text):
        if block.strip() and not block.isspace():
            flat = " ".join(block.split())
            for match in re.finditer(pattern, flat, flags=re.IGNORECASE | re.MULTILINE):
                found.append(f"{line}: ...{flat[max(0, match.start() - 50):match.end() + 30]}...")
        line += block.count("\n")
    return found


@pytest.mark.parametrize("name, pattern, diary, product", DIARY, ids=[d[0] for d in DIARY])
def test_each_rule_flags_diary_and_passes_product_text(name, pattern, diary, product):
    assert _findings(diary, pattern), f"{name}: the rule no longer flags {diary!r}"
    for sentence in product.split(", "):
        assert not _findings(sentence, pattern), f"{name}: the rule flags product text {sentence!r}"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_the_docs_speak_of_the_product_only(doc):
    text = doc.read_text()
    problems = [f"{doc.relative_to(ROOT)}:{hit}  ({name})"
                for name, pattern, _, _ in DIARY for hit in _findings(text, pattern)]
    assert not problems, ("development history in the docs: say what the product does, put figures in a "
                          "table with date, commit and machine, name a regression case by its seed\n"
                          + "\n".join(problems))


# --- citations ---------------------------------------------------------------------------------------

SOURCES = (".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".service", ".html", ".js", ".css", ".cfg", ".conf")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "test-artifacts", "build", "dist", "__pycache__"}
# The design documents the project was specified from live outside the repository; its own
# docs/design.md and docs/interfaces.md are their counterparts for readers of the repository.
OUTSIDE = re.compile(r"\.\./shared\b|\bshared/(?:spec|notes|hooks)\b|\bspec/[\w-]+\.md\b|\b" + "DESIGN" + r"\.md\b")
MD_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
# a name a test creates for itself, not a citation
NOT_CITATIONS = {("tests/desired/test_loader.py", "notes.md")}


def _sources() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in parts[:-1]):
            continue
        if path.is_file() and (path.suffix in SOURCES or path.name == "Makefile"):
            found.append(path)
    return found


def _resolves(name: str, cited_in: Path) -> bool:
    return any(candidate.is_file() for candidate in
               (ROOT / name, cited_in.parent / name, ROOT / "docs" / name))


def _unresolved(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    relative = path.relative_to(ROOT).as_posix()
    problems = [f"{relative}: cites {m.group(0)!r}, a document outside the repository" for m in OUTSIDE.finditer(text)]
    for match in MD_NAME.finditer(text):
        name = match.group(1)
        if (relative, name) not in NOT_CITATIONS and not _resolves(name, path):
            problems.append(f"{relative}: cites {name!r}, which is not in the repository")
    return problems


def test_code_and_docs_cite_only_documents_in_the_repository():
    here = Path(__file__).resolve()
    problems = [p for path in _sources() if path.resolve() != here for p in _unresolved(path)]
    assert not problems, ("cite the repository's own docs (docs/design.md, docs/interfaces.md, ...):\n"
                          + "\n".join(problems))


def test_the_citation_check_finds_an_outside_document(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text("# Design\n")
    good = tmp_path / "good.py"
    good.write_text('"""The key layout (docs/design.md); see design.md too."""\n')
    bad = tmp_path / "bad.py"
    bad.write_text('"""The key layout of ' + "DESIGN" + '.md; the options of `interfaces.md`."""\n')
    assert _unresolved(good) == []
    # the outside name twice (a known outside document, and a name that resolves nowhere), and interfaces.md
    assert len(_unresolved(bad)) == 3
