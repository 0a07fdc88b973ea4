"""Golden files of the master's decision pass, as Pacemaker's cts-scheduler keeps.

inputs/<case>.json is one pass's input (snapshot, master memory, now,
vouches); expected/<case>.json what the pass decided (actions with their
reasons, decision counters, memory, wake-up). tests/reconciler/
test_planner_golden.py replays every input; `make golden` (python -m
tests.planner_golden --regenerate) rewrites the expected files and prints
their diff; `--record` records the inputs again (docs/testing.md).
"""
