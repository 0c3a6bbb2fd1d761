# The two commands: `make demo` (set up + run the example on the bundled samples) and `make test`.
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.setup-stamp

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) ./scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/factorline demo

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python benchmarks/shared_decode.py

clean:
	rm -rf runs data .pytest_cache
