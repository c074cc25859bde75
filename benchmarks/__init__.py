"""Benchmarks: one script per measured workload (`make bench` runs them all). See common.py."""
