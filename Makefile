# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the virtual environment on first use; `make test` also fetches the
# official FHIR R4 examples (npm package hl7.fhir.r4.examples@4.0.1, CC0) once.
VENV        := .venv
PY          := $(VENV)/bin/python
R4_EXAMPLES := .cache/hl7.fhir.r4.examples-4.0.1
PYTHON      ?= python3

.PHONY: demo test install

demo: $(VENV)/.installed
	$(VENV)/bin/fhir-server serve --demo --data-dir data

test: $(VENV)/.installed $(R4_EXAMPLES)/package/package.json
	FHIR_R4_EXAMPLES=$(CURDIR)/$(R4_EXAMPLES)/package $(PY) -m pytest -n 2

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

$(R4_EXAMPLES)/package/package.json:
	mkdir -p $(R4_EXAMPLES)
	cd $(R4_EXAMPLES) && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null && tar xzf hl7.fhir.r4.examples-4.0.1.tgz
	test -f $@
