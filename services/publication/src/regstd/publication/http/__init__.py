"""The HTTP API: module-level routers that reach the use cases through `provide`."""
