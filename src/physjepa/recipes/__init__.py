"""End-to-end jobs that the CLI and the benchmarks call: each one reads a run, computes,
writes its result file."""
