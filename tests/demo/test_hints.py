"""The demo's hints name a program a new shell can run: `overseer` only when
that exact script is first on PATH, else its path (relative inside the checkout)."""
import os
import sys

from overseer.reconciler.demo import hints

VENV_BIN = os.path.dirname(sys.executable)


def test_overseer_by_name_only_when_path_finds_this_very_script(monkeypatch):
    monkeypatch.setenv("PATH", VENV_BIN + os.pathsep + os.defpath)
    assert hints.program() == ["overseer"]


def test_otherwise_the_scripts_path_relative_to_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))   # no overseer here
    script = os.path.join(VENV_BIN, "overseer")
    root = os.path.dirname(os.path.dirname(VENV_BIN))
    assert hints.program(cwd=root) == [os.path.relpath(os.path.realpath(script), os.path.realpath(root))]
    assert hints.program(cwd=str(tmp_path)) == [script]


def test_the_command_carries_the_etcd_address():
    line = hints.command("http://127.0.0.1:4001", "switchover", "pbx", cwd="/")
    assert line.endswith(" --etcd http://127.0.0.1:4001 switchover pbx")


def test_a_kill_hint_promises_a_move_only_with_a_successor():
    assert hints.kill_hint(42, "pbx1") == "kill -9 42 to move it to pbx1"
    assert "to move it" not in hints.kill_hint(42, None)


def test_the_agent_hint_names_the_pid_it_is_given_and_promises_a_move_only_with_a_successor():
    line = hints.moved("pbx2", 42, "pbx1", 77, "3s")
    first, second = line.split("\n")
    assert first == "pbx: active on pbx2, fake PBX pid 42   (kill -9 42 to move it to pbx1)"
    assert second.strip() == "(or kill -9 77, pbx2's agent: pbx moves to pbx1 once its lease (3s) runs out)"
    assert "moves pbx to" not in hints.agent_hint("pbx2", 77, None, "3s")
    assert "kill" not in hints.agent_hint("pbx2", None, "pbx1", "3s")
