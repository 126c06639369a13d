"""Why a command was refused, in the domain's words; the HTTP layer maps each kind to a status.

Domain code raises these (they carry no I/O); the runtime's HTTP layer (`regstd.runtime.http`) turns
them into 4xx answers with the message, and a refused command changes nothing.
"""


class Refused(Exception):
    """A command that cannot be carried out; the message says why, for the person who sent it."""

    status = 400


class Invalid(Refused):
    """The command contradicts the rules (too few parties, a comment period too short)."""

    status = 422


class NotFound(Refused):
    """The command names something that does not exist."""

    status = 404


class Conflict(Refused):
    """The command does not fit the current state (a step out of order, a ballot already closed)."""

    status = 409


class Forbidden(Refused):
    """The caller may not do this (a regulator acting for another region, a city writing)."""

    status = 403
