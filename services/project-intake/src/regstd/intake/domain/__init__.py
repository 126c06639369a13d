"""The rules of project intake. Pure: no I/O; the clock and the caller come in as values.

One file per rule: `proposal` (what may be proposed, and a revision's standard), `ballot` (how a
ballot opens, takes positions and passes or fails), `project` (the project and its lifecycle from
proposal to final approval), `clocks` (its deadlines), `overlap` (does a proposal resemble what
exists), `published` (the published standards intake remembers for those checks, with their
status), `publication` (what publication did with a finally approved project) and `text` (a text
lives at an https: or http: address).
"""
