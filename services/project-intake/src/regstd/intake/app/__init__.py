"""The use cases of project intake (`intake.py`) over the ports they need (`ports.py`)."""
