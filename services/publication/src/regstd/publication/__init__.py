"""Publication: joint numbering, publication, catalogue, filing and review clocks."""
