# Two commands for a fresh machine:  `make run` (install, migrate, serve)  and  `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint check-types clean audit

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU PyTorch, pinned: any other version pulls several GB of CUDA.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# A signing key for this installation, made once and kept out of the repository.
.env:
	@echo "DOCENT_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
	@echo "wrote .env with a new DOCENT_SECRET_KEY"

run: install .env
	$(BIN)/docent db upgrade
	$(BIN)/docent serve

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest

# Known vulnerabilities of the installed packages, from PyPI's vulnerability data: needs network access to
# pypi.org. Exits 2 when nothing could be checked and 3 when some packages could not be (it names them).
audit: install
	$(BIN)/python tools/audit_dependencies.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
