"""The fencer's decisions, apart from its process: what the agent last vouched
for, until when, and what must be killed and dropped when.

The agent writes one line per vouch (`<seconds> <pgid>... vip=<cidr>@<interface>...`),
one per addition between two vouches (`+ <pgid>... vip=...`) and `bye` on a
clean stop; this module writes and reads them. `Watch` decides: it is pure,
with the clock passed in, and does nothing itself. The fencer process
(fencer.py) feeds it what its pipe brings and kills and drops what it returns;
the simulator's fencer (overseer.reconciler.sim) feeds it the same lines on
virtual time, so the deadline the simulation enforces is this one.

Builtins only: the fencer process runs with `python -S -E` and imports this
file as a plain module from its own directory, to stay a few MB.
"""

BYE = b"bye"   # the agent's last line on a clean stop: nothing vouched any more


def _line(head, groups, vips):
    return (" ".join([head, *map(str, groups), *("vip=" + v for v in vips)]) + "\n").encode()


def vouch_line(seconds, groups, vips=()):
    """These are all the actives, legitimate for `seconds` from when the line is read."""
    return _line(f"{seconds:.3f}", groups, vips)


def add_line(groups, vips=()):
    """These actives too, until the deadline the last vouch set."""
    return _line("+", groups, vips)


def split_line(line):
    """`<seconds> <pgid>... vip=<cidr>@<interface>...` -> (seconds, groups, vips);
    seconds is None for an addition, `+ <pgid>... vip=...`."""
    head, *parts = line.decode().split()
    vips = [p[4:] for p in parts if p.startswith("vip=")]
    groups = [int(p) for p in parts if not p.startswith("vip=")]
    return (None if head == "+" else float(head)), groups, vips


class Watch:
    """What the agent last vouched for, and until when."""

    def __init__(self, clock):
        self.clock = clock
        self.groups = []
        self.vips = []
        self.deadline = None   # None: nothing vouched (never told of a lease, fired, or bye)
        self.buffer = b""
        self.said_bye = False

    def wait(self):
        """Seconds until the deadline; None when there is none."""
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def feed(self, chunk):
        """Take what the pipe brought; returns the vouches and additions read, for the log."""
        self.buffer += chunk
        read = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip() == BYE:
                self.said_bye, self.groups, self.vips, self.deadline = True, [], [], None
            elif line.split():
                seconds, groups, vips = split_line(line)
                if seconds is not None:
                    self.groups, self.vips, self.deadline = groups, vips, self.clock() + seconds
                else:
                    self.groups, self.vips = self.groups + groups, self.vips + vips
                    if self.deadline is None:
                        self.deadline = self.clock()  # nothing vouched now: an added active is not legitimate
                read.append(line)
        return read

    def expired(self):
        """(groups, vips) to kill and drop now that the deadline passed; None before it."""
        if self.deadline is None or self.clock() < self.deadline:
            return None
        return self._take()

    def agent_gone(self):
        """The agent died: (groups, vips) to kill and drop, nothing after a clean stop."""
        return ([], []) if self.said_bye else self._take()

    def _take(self):
        fired = (self.groups, self.vips)
        self.groups, self.vips, self.deadline = [], [], None
        return fired
