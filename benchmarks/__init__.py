"""The benchmark suite (issue 9): ``python benchmarks/suite.py``; every claim in docs/performance.md comes from it."""
