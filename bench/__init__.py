"""Benchmarks. Run them from the repository root as modules, e.g. `.venv/bin/python -m bench.search --help`:
they import the installed `docent` and each other (`bench._postgres`) like any other package."""
