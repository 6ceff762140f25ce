"""Benchmarks of the runtime, the TUI, the embedded server and the journal (not part of the installed package).

Run from the repository root: ``python -m benchmarks.runtime`` (the whole suite), ``python -m benchmarks.tui``,
``python -m benchmarks.server``, ``python -m benchmarks.journal``.
"""
