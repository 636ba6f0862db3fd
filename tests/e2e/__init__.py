"""End-to-end tests: the CLI and the window against the simulator, real keyring, real files."""
