# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the virtual environment on first use; `make test` also fetches the
# official FHIR R4 examples (npm package hl7.fhir.r4.examples@4.0.1, CC0) once, and makes
# .venv-mongoeco (Python >= 3.13 + mongoeco[wire]): the MongoDB wire-protocol server the
# contract suite runs the MongoDB backend against (unless FHIR_TEST_MONGODB_URL is set).
VENV        := .venv
PY          := $(VENV)/bin/python
R4_EXAMPLES := .cache/hl7.fhir.r4.examples-4.0.1
PYTHON      ?= python3
MONGOECO_VENV := .venv-mongoeco
PYTHON313   ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python) $(shell command -v python3.13 2>/dev/null))
FHIR_TEST_BACKENDS ?= sqlite,mongo

.PHONY: demo test install install-mongoeco

demo: $(VENV)/.installed
	$(VENV)/bin/fhir-server serve --demo --data-dir data

test: $(VENV)/.installed $(MONGOECO_VENV)/.installed $(R4_EXAMPLES)/package/package.json
	FHIR_TEST_BACKENDS=$(FHIR_TEST_BACKENDS) FHIR_R4_EXAMPLES=$(CURDIR)/$(R4_EXAMPLES)/package $(PY) -m pytest -n 2

install: $(VENV)/.installed $(MONGOECO_VENV)/.installed

install-mongoeco: $(MONGOECO_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(MONGOECO_VENV)/.installed:
	@test -n "$(PYTHON313)" || { echo "mongoeco needs Python >= 3.13: set PYTHON313=/path/to/python3.13"; exit 1; }
	$(PYTHON313) -m venv $(MONGOECO_VENV)
	$(MONGOECO_VENV)/bin/python -m pip install -q --upgrade pip
	$(MONGOECO_VENV)/bin/python -m pip install -q 'mongoeco[wire]>=4.11,<5'
	touch $@

$(R4_EXAMPLES)/package/package.json:
	mkdir -p $(R4_EXAMPLES)
	cd $(R4_EXAMPLES) && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null && tar xzf hl7.fhir.r4.examples-4.0.1.tgz
	test -f $@
