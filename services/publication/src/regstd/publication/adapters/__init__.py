"""MongoDB implementations of the ports: the standards' codec and queries, the block allocator and
the catalogue (the read side)."""
