"""Harmonization: environmental difference analysis and the eco-standard adoption registry."""
