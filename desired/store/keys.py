"""The etcd key layout (docs/design.md, "Keys in etcd"), in one place.

Everything lives under `/overseer/<cluster>/`. Names are validated by the
models never to contain `/`, so a key splits back into its parts unambiguously.
"""
from __future__ import annotations

ROOT = "/overseer/"
REPORT = ".role"  # actual/<server>/<service>/.role: the agent's role report
FAILURES = ".failures"  # actual/<server>/<service>/.failures: its fail count there


class Keys:
    def __init__(self, cluster: str):
        self.cluster = cluster
        self.root = f"{ROOT}{cluster}/"

    # desired state
    def desired_prefix(self) -> str:
        return self.root + "desired/"

    def desired(self, kind: str, name: str) -> str:
        return f"{self.root}desired/{kind}/{name}"

    def generation(self) -> str:
        return self.root + "desired/generation"

    def applying(self) -> str:
        # present only while an apply too large for one transaction is written (staged.py)
        return self.root + "desired/applying"

    # presence and election
    def server(self, name: str) -> str:
        return f"{self.root}servers/{name}"

    def master(self) -> str:
        return self.root + "master"

    # observations and role reports
    def actual_prefix(self, server: str | None = None) -> str:
        return self.root + "actual/" + (f"{server}/" if server else "")

    def actual(self, server: str, service: str, check: str) -> str:
        return f"{self.root}actual/{server}/{service}/{check}"

    def report(self, server: str, service: str) -> str:
        return f"{self.root}actual/{server}/{service}/{REPORT}"

    def failures(self, server: str, service: str) -> str:
        return f"{self.root}actual/{server}/{service}/{FAILURES}"

    # the master's decisions
    def assign(self, service: str) -> str:
        return f"{self.root}assign/{service}"

    def history_prefix(self, service: str | None = None) -> str:
        return self.root + "history/" + (f"{service}/" if service else "")

    def history(self, service: str, time_ns: int) -> str:
        # zero-padded so lexical order is time order
        return f"{self.root}history/{service}/{time_ns:020d}"

    # fence agents: the latest fence of a dead server (state.FenceRecord)
    def fence(self, server: str) -> str:
        return f"{self.root}fence/{server}"

    # operator controls (pause, cordon, switchover, restart): not documents, so `apply` never resets them
    def pause(self, service: str) -> str:
        return f"{self.root}control/pause/{service}"

    def cordon(self, server: str) -> str:
        return f"{self.root}control/cordon/{server}"

    def switchover(self, service: str) -> str:
        return f"{self.root}control/switchover/{service}"

    def restart(self, service: str) -> str:
        return f"{self.root}control/restart/{service}"

    def relative(self, key: str | bytes) -> str:
        text = key.decode() if isinstance(key, bytes) else key
        return text[len(self.root):] if text.startswith(self.root) else text
