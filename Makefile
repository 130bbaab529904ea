# netplumb: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Pod churn: create/delete cycles of real pods through the kubelet, containerd and Multus thick.
export NETPLUMB_POD_CHURN_CYCLES ?= 1000
# The stack `make run` deploys and verifies (stacks/Pulumi.$(STACK).yaml).
STACK ?= dev
# The cluster `make run` acts on: embedded (the default; an exported KUBECONFIG is ignored) or
# current-context (KUBECONFIG's current context, named with its server before anything acts).
TARGET ?= embedded

.PHONY: run test test-cluster deps venv tools engine-tools lint typecheck gocheck unit e2e docs cluster-up cluster-down clean

# Debian packages (tools/debian-packages.txt), installed before anything builds: as root with
# apt-get; without root the step stops at once and prints the apt-get line. `make test` also
# needs the test group (iperf3, shellcheck, dnsmasq-base, promtool).
DEPS_GROUPS ?= build run
deps:
	@bash tools/deps.sh $(DEPS_GROUPS)

$(VENV)/.stamp: pyproject.toml | deps
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $@

# The development harness is not in the wheel; the venv finds it in this checkout.
$(VENV)/.harness-path: $(VENV)/.stamp
	$(VPY) -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], \
		'netplumb-harness.pth').write_text('$(CURDIR)\n')"
	@touch $@

venv: $(VENV)/.stamp $(VENV)/.harness-path

tools: deps venv
	$(VPY) -m harness.tools build
	$(VPY) -m harness.node.images build

# What a user's own Pulumi program needs from here, alone: the Pulumi CLI, its Python and YAML
# language hosts and the kubernetes provider (no cluster tools, no node images).
engine-tools: venv
	$(VPY) -m harness.tools build pulumi pulumi-language-python pulumi-language-yaml \
		pulumi-kubernetes

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy --strict netplumb harness bench tests
	$(VENV)/bin/mypy --strict __main__.py
	for ex in examples/*/__main__.py; do $(VENV)/bin/mypy --strict $$ex || exit 1; done
	$(VENV)/bin/mypy --strict provider/__main__.py

gocheck:
	@bash tools/gocheck.sh

# docs/reference.md from the models' docstrings (a unit test keeps it current).
docs: venv
	$(VPY) -m harness.refdoc

unit: venv
	$(VPY) -m pytest -q tests/unit

run: tools
	NETPLUMB_TARGET=$(TARGET) $(VPY) -m harness.run $(STACK)

# The real-node suites in the foreground; lint, typecheck, gocheck and the unit tests run
# beside them (tools/test.sh), and their log follows.
test: DEPS_GROUPS = build run test
test: tools
	@bash tools/test.sh

# The tests that need only the Kubernetes API, against KUBECONFIG's current context; the run
# ends with what it could not test there, and why.
test-cluster: venv
	NETPLUMB_TARGET=current-context $(VPY) -m pytest -q -ra tests/e2e

cluster-up: tools
	$(VPY) -m harness.cli up

cluster-down: venv
	$(VPY) -m harness.cli down

clean: cluster-down
	rm -rf .netplumb
