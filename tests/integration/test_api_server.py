"""`billing api` as an operator runs it: a real process serving over HTTP with waitress, and the
in-process server that `billing up` can start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from billing_cli.api_commands import start_api_server
from billing_core.settings import Settings
from tests.support.ledger import create_org
from tests.support.processes import BILLING, local_ports


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_billing_api_serves_the_api_over_http_until_stopped(database_url, engine):
    create_org(engine, "acme")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ADMIN_TOKEN": "op-token"}
    process = subprocess.Popen(
        [BILLING, "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)
        assert (status, body) == (200, {"status": "ok"})
        status, body = _get(f"http://127.0.0.1:{port}/v1/organizations/acme/balance", "op-token")
        assert status == 200 and body["balance"] == "0.000000"
        status, body = _get(f"http://127.0.0.1:{port}/v1/organizations/acme/balance", "wrong")
        assert status == 401 and body["error"]["type"] == "unauthorized"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert "op-token" not in out + err
    assert f"127.0.0.1:{port}" in out


def test_the_in_process_api_server_starts_on_a_free_port_and_stops(database_url, engine):
    server = start_api_server(Settings(database_url=database_url, admin_token="t"), engine, port=0)
    try:
        assert _get(f"http://127.0.0.1:{server.port}/readyz")[0] == 200
    finally:
        server.stop()
    try:
        _get(f"http://127.0.0.1:{server.port}/healthz")
        raise AssertionError("the server still answers after stop()")
    except OSError:
        pass


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_billing_api_with_two_processes_shares_one_port_and_replaces_a_killed_process(database_url, engine):
    create_org(engine, "acme")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ADMIN_TOKEN": "op-token"}
    process = subprocess.Popen(
        [BILLING, "api", "--port", str(port), "--processes", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def serving() -> list[int]:
        """The children that listen on the port."""
        return [c for c in _children(process.pid) if port in local_ports(c)]

    try:
        deadline = time.monotonic() + 30
        while len(serving()) < 2:
            assert time.monotonic() < deadline and process.poll() is None, "two processes never listened"
            time.sleep(0.2)
        assert port not in local_ports(process.pid) or len(serving()) == 2
        for _ in range(20):  # each on a new connection: the kernel spreads them over both
            assert _get(f"http://127.0.0.1:{port}/v1/organizations/acme/balance", "op-token")[0] == 200
        first, second = serving()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while first in serving() or len(serving()) < 2:
            assert time.monotonic() < deadline, "the killed process was not replaced"
            time.sleep(0.2)
        assert second in serving()
        for _ in range(20):
            assert _get(f"http://127.0.0.1:{port}/v1/organizations/acme/balance", "op-token")[0] == 200
        children = serving()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
    assert all(not Path(f"/proc/{c}").exists() for c in children), "a server process outlived the parent"
