"""The per-server agent: presence, election, local convergence, self-fencing."""
