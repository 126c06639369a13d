"""The rules of harmonization, pure: adoption (`adoption.py`), the registry (`registry.py`), limits
(`limits.py`) and the difference analysis (`assessment.py`)."""
