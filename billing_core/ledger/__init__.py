"""Ledger use cases. Each takes an open connection from the caller's unit of work and never commits."""
