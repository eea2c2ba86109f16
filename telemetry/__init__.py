"""What every process shares to be observed: structured logs with request ids (`logs`), serving
Prometheus metrics on a side port, alone or aggregated over child processes (`exposition`), and the
HTTP request metrics and access log of the Flask apps (`http`). No project package is imported here."""
