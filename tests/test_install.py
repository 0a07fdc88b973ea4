"""The documented install puts everything where the agent's unit says it is:
its Documentation= files, its ExecStart program, the unit itself.

`make install` (docs/install-and-first-cluster.md) is `scripts/install.sh all`:
the package's venv, then the files; the files part is staged here under a
DESTDIR, as a packager would.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "overseer-agent@.service"
INSTALL_DOC = ROOT / "docs" / "install-and-first-cluster.md"


def directive(name: str) -> str:
    return next(line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith(name + "="))


def staged(tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    subprocess.run(["make", "-s", "install-files", f"DESTDIR={stage}"], cwd=ROOT, check=True,
                   capture_output=True, text=True, timeout=60)
    return stage


def test_the_units_documentation_is_installed_where_it_points(tmp_path):
    stage = staged(tmp_path)
    urls = directive("Documentation").split()
    assert urls and all(u.startswith("file:///") for u in urls), urls
    for url in urls:
        path = stage / url.removeprefix("file:///")
        assert path.is_file(), f"{url} is not installed by `make install`"
        assert path.read_text() == (ROOT / "docs" / path.name).read_text()


def test_the_unit_and_its_program_are_installed(tmp_path):
    stage = staged(tmp_path)
    assert (stage / "etc/systemd/system" / UNIT.name).read_text() == UNIT.read_text()
    program = directive("ExecStart").split()[0]
    link = stage / program.lstrip("/")
    assert link.is_symlink() and os.readlink(link) == "/opt/overseer-ha/bin/overseer", link
    assert "/opt/overseer-ha" in INSTALL_DOC.read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_package_step_makes_a_venv_whose_overseer_runs_outside_the_checkout(tmp_path):
    """What the symlink points into: `install.sh package` with PREFIX (default
    /opt/overseer-ha), a real (not editable) install, run from elsewhere."""
    prefix = tmp_path / "opt"
    subprocess.run([str(ROOT / "scripts" / "install.sh"), "package"], env=dict(os.environ, PREFIX=str(prefix)),
                   check=True, capture_output=True, text=True, timeout=540)
    files = subprocess.run(["make", "-s", "install-files", f"DESTDIR={tmp_path / 'stage'}", f"PREFIX={prefix}"],
                           cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
    link = tmp_path / "stage/usr/local/bin/overseer"
    assert os.readlink(link) == str(prefix / "bin" / "overseer"), files.stdout
    checked = subprocess.run([str(link), "validate", str(ROOT / "examples" / "qsuite.yaml")], cwd=tmp_path,
                             env={"PATH": os.defpath}, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert str(ROOT) not in subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import overseer.ui; print(overseer.ui.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout


def test_the_install_doc_uses_the_step_and_the_name_tested_here():
    text = INSTALL_DOC.read_text()
    assert "make install" in text
    assert "pip install overseer " not in text and "pip install overseer\n" not in text
    name = next(line.split('"')[1] for line in (ROOT / "pyproject.toml").read_text().splitlines()
                if line.startswith("name = "))
    assert name == "overseer-ha" and f"`{name}`" in text


def test_every_package_of_the_tree_is_in_the_distribution():
    """An editable install maps whole folders, so a subpackage missing from
    pyproject's list works in the checkout and breaks every real install
    (`overseer: No module named 'overseer.reconciler.hooks'`)."""
    import tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {folder: name for name, folder in config["package-dir"].items()}
    tree = {".".join([folders[top], *init.parent.relative_to(ROOT / top).parts])
            for top in folders for init in (ROOT / top).rglob("__init__.py")}
    assert tree == set(config["packages"]), (tree ^ set(config["packages"]))
