"""The mutation gauntlet: planted bugs the simulator's checker must catch.

Each mutant (catalogue.py) is a small named source edit. The gauntlet
(gauntlet.py, `make mutants`) applies one at a time to a scratch copy of the
tree (scratch.py), runs the simulator on that copy in a subprocess (child.py)
over seeds until a violation of the expected invariant is found or the
mutant's budget of seeds is spent, and prints a table. A mutant that survives
is a checker that cannot see that bug. docs/testing.md has the table of
mutants and what catches each.
"""
