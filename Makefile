# The two commands the README leads with: `make demo` and `make test`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
SAMPLE := sample/seed_ebay

# Offline here: use the shared ImageNet weights when they exist, else Keras downloads its own.
SHARED_WEIGHTS := $(SHARED)/models/mobilenet_v2_1.0_224_no_top.weights.h5
export VINYLPRICE_WEIGHTS ?= $(if $(wildcard $(SHARED_WEIGHTS)),$(abspath $(SHARED_WEIGHTS)),imagenet)
export VINYLPRICE_HOME ?= var/demo

.PHONY: demo test install clean

$(BIN)/vinylprice: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/vinylprice

demo: install
	$(BIN)/vinylprice db upgrade
	$(BIN)/vinylprice ingest $(SAMPLE)/ebay_json-vinyl.json $(SAMPLE)/EBAY_images_2024-05-20-.csv \
		--images $(SAMPLE)/images
	$(BIN)/vinylprice rebuild
	$(BIN)/vinylprice identify $(SAMPLE)/origin-image.webp

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf var/demo
