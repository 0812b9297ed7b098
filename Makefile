# The two commands a fresh clone needs (both set up .venv first if needed):
#   make verify   verify the default network (networks/vanrossum2000.yaml)
#   make test     run the test suite
.PHONY: setup setup-lava verify test test-all bench-shift

NETWORK ?= networks/vanrossum2000.yaml

setup:
	@bash scripts/setup.sh

setup-lava:
	@bash scripts/setup_lava.sh

verify: setup
	.venv/bin/biosynapse-verify verify $(NETWORK)

# The examples run through the installed pytest plugin (no -p option), so a
# broken entry point fails the suite. Their test that runs the spiking
# simulator (about half a minute) is left to test-all.
test: setup
	.venv/bin/python -m pytest -m "not slow and not biosynapse_simulation" -q

test-all: setup
	.venv/bin/python -m pytest -q

bench-shift: setup
	.venv/bin/biosynapse-verify bench shift
