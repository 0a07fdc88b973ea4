"""A deterministic simulator of the whole control plane, running the real code.

Three real agents (presence, election, the master's reconcile loop, service
workers, monitors with hysteresis, the planner, the real Store and its
transactions) run in one process on virtual time (loop.py), against a
simulated etcd (desired/store/simulated.py), network (network.py) and processes (procs.py). A
seed draws the cluster, the fault mix and the operator's actions
(schedule.py); an independent checker judges what the processes really did
(checker.py: liveness.py, calm.py, placement.py) against deadlines each fault
kind declares from the operator's promises (bounds.py). `python -m overseer.reconciler.sim` (or `make sim`) runs many
seeds and prints the table; a failing seed replays exactly (run.py,
shrink.py). See docs/testing.md.
"""
