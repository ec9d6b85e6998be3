"""Scoring orbot on public benchmarks: datasets, scoring rules, the runner, reports, gold mode."""
