"""The publication domain, pure (the standard library, pydantic, `regstd.kernel`, `regstd.contracts`):
one module per rule — `numbering` (joint numbers, the next number of a block), `standard` (the
aggregate, numbering and publishing), `revision` (a revision keeps its sequence), `life` (clocks,
filing, disclosure, review, abolition), `submission` (single-region standards), `report` and `feed`."""
