"""The notes column of docs/reference.md for fields whose model has no comment.

docref.py takes a field's note from the comment beside it in the model's
source first; this table fills in the rest, so no row of the reference is
left without one. Keys are `Model.field` (the model that declares the field,
or a subclass), or a bare field name for fields that mean the same in every
model. tests/demo/test_docref.py fails on a row with no note, and on an
entry here that names no field or that a source comment makes unused.
"""
from __future__ import annotations

BY_FIELD = {
    "apiVersion": "always `overseer/v1`",
    "metadata": "the document's name, labels and annotations",
    "spec": "the settings below",
}

NOTES = {
    # --- the three documents
    "ClusterDoc.kind": "exactly one Cluster document per cluster",
    "ServerDoc.kind": "one per machine that runs an agent",
    "ServiceDoc.kind": "one per thing to keep running",
    "Metadata.name": "unique within its kind; a Server's is the agent's `--server`, the Cluster's the "
                     "`--cluster` of every command",
    "Metadata.labels": "free-form tags for people and tools; stored, never used to decide anything",
    "Metadata.annotations": "free-form notes (owner, runbook URL); stored, never read by Overseer",

    # --- Cluster
    "ClusterSpec.hierarchy": "every Server once, in master preference, highest first: with no master, the "
                             "highest-ranked live server takes it (see `campaignDelay` and `preempt`)",
    "ClusterSpec.leaseTTL": "a server's presence and the master's lock last this long without a renewal: an agent "
                            "that stops renewing is down then, and its services move `failoverMargin` later",
    "ClusterSpec.preempt": "false: a higher-ranked server that comes back waits until the master is gone; true: "
                           "the master hands mastership to it. Mastership only: no service moves for it",
    "ClusterSpec.defaults": "`interval`, `timeout`, `failAfter`, `recoverAfter` of every check that sets none, "
                            "and every Service's failure memory",
    "ClusterSpec.serverHealth": "limits on the whole server: one in `fail` gets no active (its actives move to "
                                "an eligible candidate), one in `warn` ranks below healthy ones",

    # --- Server
    "ServerSpec.address": "IP address or DNS name: peers reach the agent here on `agentPort`; a fence agent "
                          "gets it as `OVERSEER_FENCE_ADDRESS`",
    "ServerSpec.failureDomain": "servers that fail together (a switch, a rack): standbys outside the actives' "
                                "domains come first, and the board warns when all candidates share one",
    "ServerSpec.labels": "free-form tags for people and tools; stored, never used to decide anything",

    # --- Service
    "ServiceSpec.mode": "`active-standby`: `replicas` actives, the other candidates standby; `all-active`: "
                        "active on every eligible candidate",
    "ServiceSpec.replicas": "actives wanted (active-standby); at most the number of candidates",
    "ServiceSpec.standby": "`warm`: standbys run and are promoted on failover; `cold`: standbys are stopped, "
                           "and started on failover",
    "ServiceSpec.candidates": "the servers allowed to run it, in preference order; each needs a Server document",
    "ServiceSpec.actuator": "how the agent starts, stops, promotes and demotes it: one of three `type`s",
    "ServiceSpec.checks": "probed where it runs; a critical check in `fail` moves the service, in `warn` ranks "
                          "that server lower",

    # --- check defaults and the common check fields
    "CheckDefaults.interval": "time between two probes of a check",
    "CheckDefaults.timeout": "a probe still running then is a failing result",
    "CheckDefaults.failAfter": "consecutive failing results before a check is `fail`",
    "CheckDefaults.recoverAfter": "consecutive passing results before a check is `ok` again",
    "CheckBase.name": "unique within the service; names the check on the board, in `status` and in history",
    "CheckBase.interval": "time between two probes; unset: the Cluster's `defaults`",
    "CheckBase.timeout": "a probe still running then is a failing result; unset: the Cluster's `defaults`",
    "CheckBase.failAfter": "consecutive failing results before `fail`; unset: the Cluster's `defaults`",
    "CheckBase.recoverAfter": "consecutive passing results before `ok` again; unset: the Cluster's `defaults`",
    "CheckBase.description": "free text for whoever reads the document; Overseer does not use it",

    # --- server health limits
    "ServerHealth.load1PerCPU": "the 1-minute load average divided by the number of CPUs; `null`: not checked",
    "ServerHealth.memoryPercent": "memory in use, percent of the total; `null`: not checked",
    "ServerHealth.disk": "percent used of the file system holding `path`; `null`: not checked",
    "FloatLimits.warn": "at or above it: `warn`",
    "FloatLimits.fail": "at or above it: `fail`; above `warn`",
    "PercentLimits.warn": "at or above it: `warn`",
    "PercentLimits.fail": "at or above it: `fail`; above `warn`",
    "DiskLimits.path": "any path on the file system to measure",

    # --- actuators
    "ExecActuator.type": "your own commands start, stop and check the service",
    "ExecActuator.start": "starts the service and returns (one still running at `timeout` is killed)",
    "ExecActuator.stop": "stops the service and returns",
    "ExecActuator.status": "exit 0: running, other: not running; without it the checks alone tell",
    "SystemdActuator.type": "`systemctl start`, `stop` and `is-active` on the unit",
    "SystemdActuator.unit": "the unit's name, e.g. `asterisk.service`",
    "ProcessActuator.type": "the agent runs `command` itself and sees it exit at once",
    "ProcessActuator.command": "runs in the foreground (never daemonizes), in its own process group",
    "ProcessActuator.stopSignal": "sent to its process group to stop it; SIGKILL after `timeout`",
    "ProcessActuator.workingDir": "working directory of `command`, `promote` and `demote`; unset: the agent's",
    "ProcessActuator.env": "added to the environment of `command`, `promote` and `demote`; `OVERSEER_*` win",
    "_ActuatorBase.promote": "run on the server that becomes active, after a start when needed",
    "_ActuatorBase.timeout": "per action (start, stop, promote, demote, status): a command still running then "
                             "is killed with its process group and the action fails",

    # --- checks: what each type probes, then their own fields
    "ProcessCheck.type": "the process is running (a zombie is dead)",
    "MemoryCheck.type": "resident memory (RSS), summed over the matched processes",
    "MemoryCheck.match": "the processes measured",
    "ThreadsCheck.type": "threads, summed over the matched processes",
    "ThreadsCheck.match": "the processes counted",
    "DiskCheck.type": "percent used of the file system holding `path`",
    "DiskCheck.path": "any path on the file system to measure",
    "TcpCheck.type": "time to connect; refused fails",
    "TcpCheck.host": "where to connect",
    "TcpCheck.port": "where to connect",
    "HttpCheck.type": "response time of a GET of `url`",
    "HttpCheck.url": "fetched with GET",
    "HttpCheck.expectStatus": "statuses that pass; any other fails",
    "_AmiFields.host": "the Asterisk Manager Interface's address",
    "_AmiFields.port": "the Asterisk Manager Interface's port (manager.conf)",
    "_AmiFields.username": "an AMI user of manager.conf",
    "_AmiFields.secretFile": "a file on the server holding that user's secret, so it is in no document; owned "
                             "by root or the agent's user, mode 0600, else the check fails",
    "AsteriskAmiCheck.type": "round trip of an AMI Ping after login; a refused login fails",
    "AsteriskChannelsCheck.type": "active channels (calls in progress), from CoreShowChannels",
    "SipOptionsCheck.type": "time to answer a SIP OPTIONS request; no answer fails",
    "SipOptionsCheck.host": "the SIP server's address",
    "SipOptionsCheck.port": "the SIP server's port",
    "SipOptionsCheck.transport": "how the OPTIONS request is sent",
    "PostgresReplicationCheck.type": "on a primary the worst replica's replay lag, on a standby its own; a standby "
                                     "that is not streaming fails",
    "PostgresReplicationCheck.dsn": "libpq connection string, without the password",
    "PostgresReplicationCheck.passwordFile": "a file holding the password, so it is in no document; owned by root "
                                             "or the agent's user, mode 0600, else the check fails",
    "PostgresReplicationCheck.minReplicas": "on a primary, fewer streaming replicas than this fails",
    "PostgresReplicationCheck.warn": "a size (bytes behind) or a duration; at or above it: `warn`",
    "PostgresReplicationCheck.fail": "a size or a duration, as `warn`; at or above it: `fail`",
    "MysqlReplicationCheck.type": "`Seconds_Behind_Source`; a stopped IO or SQL thread fails",
    "MysqlReplicationCheck.host": "the MySQL/MariaDB server's address",
    "MysqlReplicationCheck.port": "the MySQL/MariaDB server's port",
    "MysqlReplicationCheck.user": "a user allowed to read the replication status",
    "MysqlReplicationCheck.passwordFile": "a file holding the password, so it is in no document; owned by root "
                                          "or the agent's user, mode 0600, else the check fails",
    "CommandCheck.type": "a command of your own, as a Nagios plugin: exit 0 ok, 1 warn, any other fail",
    "CommandCheck.command": "never run by a shell; the first line it prints is the check's message",

    # --- Match
    "Match.name": "every process whose name, executable or argv[0] (base names) equals it",
    "Match.pidfile": "the process whose pid is on this file's first line (a PostgreSQL postmaster.pid works as it is)",
    "Match.unit": "the main process (MainPID) of this systemd unit",
    "Match.cmdline": "every process whose arguments, joined by spaces, contain it (never the agent)",

    # --- warn/fail of the checks that measure something
    "_Limited.warn": "at or above it: `warn`; unset: never warns",
    "_Limited.fail": "at or above it: `fail`; unset: never fails on the value",
}


def note(model: type, field: str) -> str:
    """This table's note for `field` as `model` has it, else ""."""
    for klass in model.__mro__:
        found = NOTES.get(f"{klass.__name__}.{field}")
        if found:
            return found
    return BY_FIELD.get(field, "")
