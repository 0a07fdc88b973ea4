# Overseer developer entry points. On a fresh Debian machine:
#   make demo    a local etcd with the example cluster (see README), in .venv-demo
#   make test    venv + system packages + Docker engine + pytest
#   make install on a server: the package, the agent's unit, the docs (scripts/install.sh)
# Helper logic lives in scripts/ so each piece can be run and read alone.

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
# The demo's own venv: the package and its runtime dependencies, none of the
# test extras (docs/install-and-first-cluster.md has both sizes).
DEMO_VENV  := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed
# Where scripts/docker-up.sh keeps the dockerd it starts (state, socket, env file).
DOCKER_DIR ?= /tmp/overseer-docker
# Not exported: tests assert on the OVERSEER_* variables children see.
DOCKER_ENV := OVERSEER_DOCKER_DIR=$(DOCKER_DIR)
# -ra: say why anything was skipped/xfailed; durations keep the suite's cost visible.
PYTEST_ARGS ?= -ra --durations=15 --timeout=300
# extra pytest arguments, e.g. make test ARGS='-k apply -x'
ARGS ?=

.PHONY: venv system-deps test demo sim golden golden-record mutants faults calls bench install install-files clean

venv: $(STAMP)

# A venv at $(1), made once (python3-venv is installed first if missing).
define new_venv
	@if [ ! -x $(1)/bin/python ]; then \
	    $(PYTHON) -m venv $(1) || { \
	        echo "venv: $(PYTHON) -m venv failed; trying apt-get install python3-venv"; \
	        rm -rf $(1); SYSTEM_PACKAGES=python3-venv scripts/system-deps.sh; \
	        $(PYTHON) -m venv $(1); }; \
	fi
endef

# Re-installs whenever pyproject.toml changes (new dependency or package).
$(STAMP): pyproject.toml
	$(call new_venv,$(VENV))
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

$(DEMO_STAMP): pyproject.toml
	$(call new_venv,$(DEMO_VENV))
	$(DEMO_VENV)/bin/pip install -q -e .
	@touch $@

system-deps:
	@scripts/system-deps.sh

# Starts (or reuses) a Docker engine so etcd runs under testcontainers; without
# one the fixture uses the etcd binary and the pytest header says why.
# TEST_ETCD=binary skips the engine. The trap stops the dockerd we
# started and keeps pytest's exit status.
test: venv system-deps
	@if [ "$${TEST_ETCD:-auto}" != binary ]; then $(DOCKER_ENV) scripts/docker-up.sh $$$$; fi; \
	trap '$(DOCKER_ENV) scripts/docker-down.sh $$$$' EXIT; trap 'exit 130' INT TERM; \
	if [ -f $(DOCKER_DIR)/env ]; then . $(DOCKER_DIR)/env; fi; \
	start=$$(date +%s); \
	$(VENV)/bin/pytest $(PYTEST_ARGS) $(ARGS); status=$$?; \
	echo "make test: pytest exit $$status after $$(( $$(date +%s) - start ))s"; \
	exit $$status

# Benchmarks (docs/benchmarks.md): every bench/ script, results in bench/results/
# (JSON, PNG plots), then the tables in docs/benchmarks.md regenerated from them.
# Patroni is installed from PyPI into its own venv by bench/_pg.py; bench/calls.py is the
# call lab (make calls), about 8 min. About 45 min;
# BENCH_STABLE=60 shortens the scale run's 10-minute stability window.
BENCH_STABLE ?= 600
bench: venv system-deps
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	$(VENV)/bin/python bench/idle.py --checks 20
	$(VENV)/bin/python bench/idle.py --checks 0
	$(VENV)/bin/python bench/pg_side_by_side.py
	$(VENV)/bin/python bench/scale.py --stable $(BENCH_STABLE)
	$(VENV)/bin/python bench/planner.py | tee bench/results/planner.txt
	$(VENV)/bin/python bench/board.py | tee bench/results/board.txt
	$(VENV)/bin/python bench/failover.py | tee bench/results/failover.txt
	$(VENV)/bin/python bench/election.py | tee bench/results/election.txt
	nice -n 10 $(VENV)/bin/python bench/calls.py
	$(VENV)/bin/python bench/report.py

# The deterministic simulator (docs/testing.md): N seeded fault schedules from SEED.
# A failing seed replays exactly: make sim N=1 SEED=<seed>
N ?= 200
SEED ?= 1
sim: venv
	PYTHONHASHSEED=0 $(VENV)/bin/python -m overseer.reconciler.sim --n $(N) --seed $(SEED)

# The master's decisions on recorded inputs (tests/planner_golden/, docs/testing.md):
# golden writes the expected files anew and prints their diff, for review;
# golden-record first records the inputs again (simulator seeds, hand-written cases).
golden: venv
	PYTHONHASHSEED=0 $(VENV)/bin/python -m tests.planner_golden --regenerate
golden-record: venv
	PYTHONHASHSEED=0 $(VENV)/bin/python -m tests.planner_golden --record

# The mutation gauntlet (docs/testing.md): every planted bug of tests/mutants/catalogue.py,
# each on a scratch copy of the tree, must be caught by the simulator within its seeds.
# ONLY=margin-0 (names or patterns, comma-separated) runs some; JOBS=2 runs two at once;
# SEEDS=2000 gives each that many seeds instead of its budget (to calibrate one).
ONLY ?=
JOBS ?= 1
SEEDS ?=
mutants: venv
	$(VENV)/bin/python -m tests.mutants --jobs $(JOBS) $(if $(ONLY),--only '$(ONLY)') $(if $(SEEDS),--seeds $(SEEDS))

# The fault suite on real processes across network namespaces (root; docs/testing.md):
# N seeded schedules from SEED, or a labelled family (LABEL=two-warm-actives).
# A failing seed reruns its schedule: make faults N=1 SEED=<seed>
# Every Server has a fence agent (a power switch, tests/faults/power.py); FENCE=0: none.
LABEL ?=
FENCE ?= 1
faults: venv system-deps
	$(VENV)/bin/python -m tests.faults --n $(N) --seed $(SEED) $(if $(LABEL),--label $(LABEL)) $(if $(filter 0,$(FENCE)),--no-fence)

# The call lab on real processes across network namespaces (root; docs/call-centre.md,
# "Call survival"): SIPp calls through Kamailio, an active-standby service with a
# floating address on two servers, one fresh lab per fault (about 80 s each), and a
# table of SIPp's own counts. CALL_FAULTS=kamailio-kill,switchover runs some of them.
CALL_FAULTS ?=
calls: venv system-deps
	nice -n 10 $(VENV)/bin/python -m tests.calls $(if $(CALL_FAULTS),--faults $(CALL_FAULTS))

# DEMO_ARGS='--listen 127.0.0.1:8090' passes options to `overseer demo`.
DEMO_ARGS ?=
demo: $(DEMO_STAMP)
	$(DEMO_VENV)/bin/overseer demo $(DEMO_ARGS)

# On a server, as root (docs/install-and-first-cluster.md): the package in a
# venv under /opt/overseer-ha, /usr/local/bin/overseer, the agent's unit in
# /etc/systemd/system, the docs where the unit's Documentation= points.
# install-files: only the files, e.g. staged with DESTDIR=/tmp/stage.
install:
	scripts/install.sh all
install-files:
	scripts/install.sh files

clean:
	@$(DOCKER_ENV) scripts/docker-down.sh
	rm -rf $(VENV) $(DEMO_VENV) build *.egg-info .pytest_cache .hypothesis test-artifacts .demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
