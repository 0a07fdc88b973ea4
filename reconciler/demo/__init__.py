"""`overseer demo`: a whole cluster on one machine, and the small fake services it runs.

fake_pbx.py (enough AMI for the asterisk checks), dialer.py (a process that
just runs, colocated with the PBX), web_app.py (a threaded web
server), recorder.py (a heartbeat writer with its own check), cluster.py (the
documents), processes.py (starting and stopping everything), agents.py
(which process is each server's agent, restarting killed ones), hints.py
(what to try, as runnable lines), docref.py (the
generated document reference in docs/reference.md).
"""
