"""Read-side queries: balance, history and reports. They never write."""
