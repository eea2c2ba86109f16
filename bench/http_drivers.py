"""The two load drivers of `billing bench http` and the server they drive: `billing api` as a user
starts it; wrk (C, for throughput); bench/loadgen.py (asyncio, for latency at a fixed rate). Each
run reports the server's CPU (cores used) from /proc."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BILLING = str(Path(sys.executable).parent / "billing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children, from /proc."""
    total = 0.0
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            frontier += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
    return total


class Server:
    """`billing api` started as a user would, stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], processes: int, threads: int) -> None:
        self.port = _free_port()
        command = [
            BILLING,
            "api",
            "--port",
            str(self.port),
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("billing api did not start listening within 60 s")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def loadgen(
    server: Server, requests: list[dict[str, Any]], connections: int, duration: float, rate: float | None
) -> dict[str, Any]:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "connections": connections,
        "duration": duration,
        "rate": rate,
        "requests": requests,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    before, started = _cpu_seconds(server.process.pid), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", f.name], capture_output=True, text=True, check=True
    )
    cores = (_cpu_seconds(server.process.pid) - before) / (time.perf_counter() - started)
    os.unlink(f.name)
    return {"endpoints": json.loads(out.stdout), "server_cores": round(cores, 2)}


WRK_SCRIPT = """
local reqs = %s
local n = 0
request = function()
  n = n + 1
  local r = reqs[(n %% #reqs) + 1]
  return wrk.format(r.method, r.path, r.headers, r.body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "seconds": %%.3f, "http_errors": %%d, "socket_errors": %%d, ' ..
    '"p50_ms": %%.2f, "p99_ms": %%.2f, "p99_9_ms": %%.2f}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
"""


def _lua(requests: list[dict[str, Any]]) -> str:
    def item(r: dict[str, Any]) -> str:
        headers = ", ".join(f'["{k}"] = "{v}"' for k, v in r.get("headers", {}).items())
        body = json.dumps(r["body"]) if r.get("body") is not None else "nil"
        return f'{{method = "{r["method"]}", path = "{r["path"]}", headers = {{{headers}}}, body = {body}}}'

    return WRK_SCRIPT % ("{" + ", ".join(item(r) for r in requests) + "}")


def wrk(server: Server, requests: list[dict[str, Any]], connections: int, duration: float) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed for the throughput runs: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(requests))
    before, started = _cpu_seconds(server.process.pid), time.perf_counter()
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "-s",
            f.name,
            f"http://127.0.0.1:{server.port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cores = (_cpu_seconds(server.process.pid) - before) / (time.perf_counter() - started)
    os.unlink(f.name)
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    figures = json.loads(line[4:])
    figures["requests_per_s"] = round(figures["requests"] / figures["seconds"], 1)
    return {**figures, "connections": connections, "server_cores": round(cores, 2)}
