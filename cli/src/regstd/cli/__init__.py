"""The regstd command line."""
