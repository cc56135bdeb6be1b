"""Benchmarks, side by side: ``python -m bench [--quick] [--only export,runtime,...]``.

Every comparison is a ratio of two things measured in the same run on the same machine.
Results go to ``bench/results/latest.json`` and ``bench/results/latest.md``.
"""
