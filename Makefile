# provernet — developer entry points. Everything installs into this checkout:
# Python packages into .venv, pinned npm tools (anvil, solc, snarkjs) into .tools.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
export PROVERNET_TOOLS := $(CURDIR)/.tools

.PHONY: help venv tools test lint typecheck check contracts check-contracts bench clean devnet

help:
	@echo "make devnet     install everything, start a local market (.devnet) and run one job on it"
	@echo "make test       install everything the tests need, lint, type-check, run the whole suite"
	@echo "make check      lint and type-check"
	@echo "make contracts  recompile contracts/ with the pinned solc"
	@echo "make check-contracts  mutation check: every mutant of the settlement contracts must fail tests/contracts (many minutes)"
	@echo "make bench      run the benchmarks in bench/"

$(VENV)/.installed: pyproject.toml .ci/constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -c .ci/constraints.txt -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed

tools: venv
	$(PY) -m node.tools install

test: venv tools check
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check protocol node tests bench devnet
	$(VENV)/bin/ruff format --check protocol node tests bench devnet

typecheck: venv
	$(VENV)/bin/mypy protocol node devnet

check: lint typecheck

contracts: tools
	node contracts/compile.mjs

# Mutation check of JobMarket and ProverStaking (not part of `make test`: it takes many minutes);
# writes bench/results/contract-mutation.md.
check-contracts: venv tools
	$(PY) -m bench.contract_mutation

# Benchmarks write their tables to stdout; bench/results/ holds the recorded runs.
# EZKL is measured separately (it installs itself into bench/out/ezkl-venv):
#   $(PY) -m bench.peers.ezkl_bench --all
bench: venv tools
	$(PY) -m bench.prove_bench
	$(PY) -m bench.verify_bench
	$(PY) -m bench.gas.measure

# A local chain and four nodes as background processes in .devnet, then one job end to end.
devnet: venv tools
	$(VENV)/bin/provernet devnet up
	$(VENV)/bin/provernet devnet demo
	@echo "the devnet keeps running; stop it with: $(VENV)/bin/provernet devnet down  (--clean also deletes .devnet)"

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
