"""MongoDB implementations of the ports of `regstd.intake.app.ports`, and how intake's aggregates
are kept in their documents."""
