"""The harmonization use cases (`adoptions.py`, `analysis.py`) over the unit of work and the
ports they need (`ports.py`)."""
