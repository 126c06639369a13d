"""The HTTP API of harmonization: module-level routers (`adoption`, `analysis`) that get the use
cases through `provide`."""
