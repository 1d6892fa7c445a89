"""Benchmarks, one module per subject: python -m experiments.bench.NAME (ct, mri, pet, learned, baselines, gpu)."""
