"""The `billing` command: the composition root that wires settings, database and processes."""
