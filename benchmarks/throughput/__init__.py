"""The throughput benchmark: ``.venv/bin/python -m benchmarks.throughput`` (see __main__.py)."""
