"""The HTTP API of project intake: module-level routers (`projects`, `clocks`) that get the service's
`Intake` through `regstd.runtime.http.provide`."""
