"""Benchmark workloads copied to instances and run there with plain python3 (MJX, DDP check)."""
