"""Benchmarks, each measuring the service beside a bare baseline in the same run (`make bench`)."""
