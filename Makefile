# Two commands for a fresh machine that has only Python 3.11, pip and make:
#   make demo   -- set up .venv, generate 2,000 SKU-locations, run the full stack
#   make test   -- set up .venv and run the default test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
PYTEST_ARGS ?= -n auto --dist loadgroup

.PHONY: demo test venv lint bench ui clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/echelon generate $(DEMO_DIR)/data --sku-locations 2000 --seed 7
	$(VENV)/bin/echelon run $(DEMO_DIR)/data --out $(DEMO_DIR)/out --tracking-uri sqlite:///$(DEMO_DIR)/mlflow.db
	$(VENV)/bin/echelon report $(DEMO_DIR)/out --csv --xlsx
	@echo
	@echo "Recommendations: $(DEMO_DIR)/out/recommendations.parquet (.csv, report.xlsx)"
	@echo "Report:          $(DEMO_DIR)/out/report.html   (open it in a browser; works offline)"
	@echo "MLflow UI:       $(VENV)/bin/echelon ui --tracking-uri sqlite:///$(DEMO_DIR)/mlflow.db   (then open http://127.0.0.1:5000)"

lint: $(STAMP)
	$(VENV)/bin/ruff check platform_core plugins cluster tests benchmarks docs/examples
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict platform_core

ui: $(STAMP)
	$(VENV)/bin/echelon ui --tracking-uri sqlite:///$(DEMO_DIR)/mlflow.db

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
