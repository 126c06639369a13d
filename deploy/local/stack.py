#!/usr/bin/env python3
"""Local infrastructure stack: a real Apache Kafka broker and a real FerretDB server.

The entry point of the ``regstd_stack`` package beside this file, which does the work (see its
docstring and README.md). Standard library only, so it runs with a plain ``python3``::

    python3 deploy/local/stack.py <install|up|down|status> [--data-dir DIR]
        [--kafka-port N] [--controller-port N] [--mongo-port N] [--json] [--purge]

Loaded from its path as a module, it offers the package's API: :func:`install`, :func:`up`,
:func:`down`, :func:`status` with :class:`StackConfig`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory is on sys.path already (unless python3 -P or -I); loaded from
# its path as a module, it is not.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from regstd_stack import *  # noqa: E402, F403  (the importable API, as before the package)
from regstd_stack import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
