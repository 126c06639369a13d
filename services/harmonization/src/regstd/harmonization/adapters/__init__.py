"""MongoDB implementations of the ports of `regstd.harmonization.app.ports`."""
