"""An HTTP load generator in its own process: keep-alive connections, a weighted mix of requests,
either back to back (closed loop: the throughput) or at a fixed rate (open loop: the latency at a
load, measured from each request's scheduled time, so a stalled server is not hidden).

    python -m bench.loadgen SPEC.json      # prints one JSON object: figures per request name

SPEC: {"host", "port", "connections", "duration", "rate" (requests/s, or null for closed loop),
       "requests": [{"name", "method", "path", "headers": {}, "body": str | null, "weight",
                     "expect": [200, 402]}]}
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def summary(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0

        return {
            "requests": len(ordered),
            "requests_per_s": round(len(ordered) / seconds, 1),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "p99_9_ms": pct(0.999),
            "max_ms": round(ordered[-1], 2) if ordered else 0.0,
            "errors": self.errors,
            **({"first_error": self.first_error} if self.first_error else {}),
        }


def _encode(request: dict[str, Any], host: str) -> bytes:
    body = (request.get("body") or "").encode()
    lines = [f"{request['method']} {request['path']} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in request.get("headers", {}).items()]
    if body or request["method"] in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], int(spec["port"])
    requests = spec["requests"]
    encoded = [_encode(r, f"{host}:{port}") for r in requests]
    weights = [float(r.get("weight", 1)) for r in requests]
    tallies = {r["name"]: Tally() for r in requests}
    rng = random.Random(11)
    duration, rate = float(spec["duration"]), spec.get("rate")
    connections = [await asyncio.open_connection(host, port) for _ in range(int(spec["connections"]))]
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for pair in connections:
        idle.put_nowait(pair)
    started = time.perf_counter()
    deadline = started + duration

    async def one(scheduled: float) -> None:
        index = rng.choices(range(len(requests)), weights)[0]
        request, tally = requests[index], tallies[requests[index]["name"]]
        reader, writer = await idle.get()
        try:
            status = await _exchange(reader, writer, encoded[index])
        except Exception as error:  # a reset or timeout: count it, open a fresh connection
            tally.errors += 1
            tally.first_error = tally.first_error or repr(error)
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
        else:
            tally.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
            if status not in request.get("expect", [200]):
                tally.errors += 1
                tally.first_error = tally.first_error or f"HTTP {status}"
        idle.put_nowait((reader, writer))

    if rate is None:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                await one(time.perf_counter())

        await asyncio.gather(*(loop() for _ in connections))
    else:
        pending: set[asyncio.Task[None]] = set()
        n = 0
        while (scheduled := started + n / float(rate)) < deadline:
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            task = asyncio.create_task(one(scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)
    seconds = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return {name: tally.summary(seconds) for name, tally in tallies.items()}


def main() -> int:
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    print(json.dumps(asyncio.run(run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
