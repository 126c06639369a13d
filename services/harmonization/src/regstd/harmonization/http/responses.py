"""What the harmonization routes document as their refusals."""

from regstd.runtime.http import refusals

READ = refusals(
    {
        401: "No bearer token, or an unknown one.",
        404: "No such standard or assessment.",
        422: "A malformed request; the message says why.",
    }
)
WRITE = READ | refusals(
    {
        403: "Not the regulator of that region (cities and operators only read).",
        409: "Already decided otherwise, or the source was withdrawn or superseded.",
    }
)
