"""The demo knows an agent of its own by its --state-dir inside the demo folder,
whoever started it and from whatever directory, so Ctrl-C can end one started
by hand."""
import subprocess
import sys

import pytest

from overseer.reconciler.demo.agents import running_agents
from tests.support.waiting import poll_until

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def spawned():
    procs = []
    yield lambda argv, cwd: procs.append(subprocess.Popen(argv, cwd=cwd)) or procs[-1]
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_an_agent_is_found_by_its_state_dir_relative_or_absolute(tmp_path, spawned):
    folder = tmp_path / "demo"
    relative = spawned(SLEEP + ["agent", "--server", "pbx1", "--state-dir", "demo/pbx1"], cwd=tmp_path)
    absolute = spawned(SLEEP + ["agent", f"--state-dir={folder / 'web1'}"], cwd="/")
    spawned(SLEEP + ["agent", "--state-dir", str(tmp_path / "other" / "pbx1")], cwd="/")   # another demo's
    spawned(SLEEP + ["ui", "--state-dir", str(folder / "pbx2")], cwd="/")                  # not an agent
    found = poll_until(lambda: (f := running_agents(folder, ("pbx1", "pbx2", "web1"))) and len(f) == 2 and f,
                       5, "both agents")
    assert {s: [p.pid for p in ps] for s, ps in found.items()} == {"pbx1": [relative.pid], "web1": [absolute.pid]}
