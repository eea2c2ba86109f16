"""The database layer: engine, unit of work, retry of transient conflicts, repositories."""
