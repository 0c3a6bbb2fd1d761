# The two commands: `make demo` (set up + run the example on the bundled samples) and `make test`.
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.setup-stamp
# The editor is rebuilt when any of its sources change (node_modules and dist excluded).
UI_SOURCES = $(shell find ui -path ui/node_modules -prune -o -path ui/dist -prune -o -type f -print 2>/dev/null)

.PHONY: setup demo test bench bench-real cards clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh $(UI_SOURCES)
	VENV=$(VENV) ./scripts/setup.sh
	touch $(STAMP)

demo: setup
	$(BIN)/factorline demo

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python benchmarks/shared_decode.py

# The whole catalogue on real media (the shared set + the project's own, fetched on demand) next to the reference tools.
bench-real: setup
	$(BIN)/python benchmarks/real_media.py

# Every built-in operator's factor card: the synthetic and the real-media benchmarks, then the cards from their results.
cards: setup
	$(BIN)/python benchmarks/factor_accuracy.py || true
	$(BIN)/python benchmarks/real_media.py || true
	$(BIN)/python benchmarks/aesthetics.py || true
	$(BIN)/python benchmarks/face_match.py || true
	$(BIN)/python benchmarks/cards.py

clean:
	rm -rf runs data .pytest_cache
