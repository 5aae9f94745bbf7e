"""The corpus: one scenario per file (see bench/accuracy/model.py and CONTRIBUTING.md)."""
