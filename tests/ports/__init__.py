"""Ports of published workflow examples (Flyte's flytesnacks, the KFP SDK samples, Metaflow's tutorials) to
typedflow, each with the same logic in plain Python as its reference; tests/ports/test_ports.py runs them."""
