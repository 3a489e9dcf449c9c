# The project's commands. `make run` and `make test` each do their own (idempotent, cached) set-up first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/cx-membrane
export CXM_CACHE_DIR ?= $(CACHE)
LOCK := infra/requirements.lock
VENV_STAMP := $(VENV)/.stamp-$(shell cat $(LOCK) pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
JARS_STAMP := $(CACHE)/jars/.stamp-deps-$(shell cat infra/maven/*/pom.xml 2>/dev/null | sha1sum | cut -c1-12)
UDF_STAMP := $(CACHE)/jars/.stamp-udf-$(shell cat pipelines/jvm/pom.xml $$(find pipelines/jvm/src -type f | sort) 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: setup venv jars redis-bin check-tools up down status topics run test unit lint bench clean

setup: check-tools venv jars redis-bin

check-tools:
	@command -v java >/dev/null || { echo "error: Java is missing: install OpenJDK 17 (java on PATH)"; exit 1; }
	@command -v mvn >/dev/null || { echo "error: Maven is missing: install Maven 3.8+ (mvn on PATH)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is missing: install Python 3.11"; exit 1; }

venv: $(VENV_STAMP)
$(VENV_STAMP):  # the name carries a hash of the lock and pyproject.toml: no mtime checks (fresh clones)
	@echo "setup: virtual environment $(VENV) from $(LOCK)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip==24.3.1
	@$(PY) -m pip install -q -r $(LOCK)
	@$(PY) -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.stamp-*; touch $@

jars: $(JARS_STAMP) $(UDF_STAMP)
# Each directory is filled beside the live one and swapped in (a running broker or job never sees it half-full).
$(JARS_STAMP):  # the name carries a hash of the poms
	@echo "setup: jars from Maven Central into $(CACHE)/jars"
	@for p in flink kafka; do rm -rf $(CACHE)/jars/$$p.new $(CACHE)/jars/$$p.old; \
	  mvn -q -B -f infra/maven/$$p/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CACHE)/jars/$$p.new \
	    || exit 1; \
	  if [ -d $(CACHE)/jars/$$p ]; then mv $(CACHE)/jars/$$p $(CACHE)/jars/$$p.old; fi; \
	  mv $(CACHE)/jars/$$p.new $(CACHE)/jars/$$p; rm -rf $(CACHE)/jars/$$p.old; done
	@rm -f $(CACHE)/jars/.stamp-deps-* $(CACHE)/jars/.stamp-[0-9a-f]*; touch $@

$(UDF_STAMP): $(JARS_STAMP)  # a hash of pipelines/jvm; rebuilt after the dependencies were swapped
	@echo "setup: the project's Flink SQL functions (pipelines/jvm) built with Maven"
	@mvn -q -B -f pipelines/jvm/pom.xml package -Dcxm.build.dir=$(CACHE)/build/udf
	@cp $(CACHE)/build/udf/cxm-flink-udf.jar $(CACHE)/jars/flink/.cxm-flink-udf.jar.tmp
	@mv -f $(CACHE)/jars/flink/.cxm-flink-udf.jar.tmp $(CACHE)/jars/flink/cxm-flink-udf.jar
	@rm -f $(CACHE)/jars/.stamp-udf-*; touch $@

redis-bin:
	@command -v redis-server >/dev/null || bash infra/scripts/install-redis.sh

up: setup
	@mkdir -p var
	@$(VENV)/bin/cxm up

down:
	@$(VENV)/bin/cxm down

status:
	@$(VENV)/bin/cxm status

run: setup
	@mkdir -p var
	@$(VENV)/bin/cxm up --no-flink-cluster
	@$(VENV)/bin/cxm run

test: setup
	@mkdir -p var
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy .
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: setup
	@$(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)

lint: venv
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy .

bench: setup
	@mkdir -p var
	@$(VENV)/bin/cxm up --no-flink-cluster
	@$(VENV)/bin/python -m bench

clean:
	@$(VENV)/bin/cxm down || true
	rm -rf var bench/results
