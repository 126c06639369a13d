"""The use cases: load, decide (the domain), save through the unit of work; ports in `ports.py`."""
