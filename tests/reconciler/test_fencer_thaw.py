"""A fencer frozen with its host kills at the thaw, not when its timer resumes.

A whole server frozen (SIGSTOP of everything, a hung VM) for longer than the
lease: its deadline passed meanwhile. select() resumes with the time that was
left when it was stopped, so the fencer used to kill only seconds after the
thaw, while the thawed child acted beside its successor (the fault suite's
frozen host). SIGCONT now wakes it to check its deadline at once.
"""
import array
import fcntl
import os
import signal
import termios
import subprocess
import sys
import time

from overseer.reconciler.agent.fencer import Fencer
from tests.support.waiting import poll_until

VOUCHED = 4.0   # seconds: what is left of the deadline when the fencer is frozen


def test_a_thawed_fencer_kills_at_once_when_its_deadline_passed_while_frozen():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    fencer = Fencer()
    try:
        fencer.vouch(VOUCHED, [child.pid])
        poll_until(lambda: _unread(fencer) == 0 and _waiting(fencer.proc.pid), 10,
                   "the fencer to read the vouch and wait on its deadline")
        os.kill(fencer.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        poll_until(lambda: time.monotonic() - stopped > VOUCHED + 0.5, VOUCHED + 5, "the deadline passing")
        assert child.poll() is None          # frozen: nothing killed yet
        os.kill(fencer.proc.pid, signal.SIGCONT)
        thawed = time.monotonic()
        child.wait(timeout=VOUCHED + 10)
        late = time.monotonic() - thawed
        print(f"killed {late:.3f}s after the thaw (the deadline passed {VOUCHED + 0.5:.1f}s before it)")
        # Before: the remaining ~4 s of its select() ran on after the thaw.
        assert child.returncode == -9 and late < VOUCHED / 2, late
    finally:
        fencer.close()
        if child.poll() is None:
            child.kill()
            child.wait()


def _unread(fencer: Fencer) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(fencer.proc.stdin.fileno(), termios.FIONREAD, buf)
    return buf[0]


def _waiting(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as f:
            where = f.read()
        return "select" in where or "poll" in where
    except OSError:
        return False
