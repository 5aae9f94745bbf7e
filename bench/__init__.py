"""Benchmarks kept in the repository: corpora a benchmark script runs against the lab."""
