"""The README's run command as a new user runs it: no services configured, everything embedded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from tests.support.metrics import free_port, scrape
from tests.support.processes import BILLING


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _console_credits_page(base: str, token: str, org: str) -> str:
    """Sign in to the console with the admin token as a browser would (the form's page first, for its
    CSRF value and nonce cookie), then open the Credits tab."""
    with urllib.request.urlopen(f"{base}/console/sign-in", timeout=30) as answer:
        csrf = re.findall(r'name="csrf" value="([^"]*)"', answer.read().decode())[0]
        nonce = answer.headers["Set-Cookie"].split(";", 1)[0]
    form = urllib.parse.urlencode({"token": token, "organization": org, "csrf": csrf}).encode()
    sign_in = urllib.request.Request(f"{base}/console/sign-in", data=form, headers={"Cookie": nonce})
    try:
        urllib.request.build_opener(_NoRedirect).open(sign_in, timeout=30)
        raise AssertionError("the sign-in did not redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 303
        assert answer.headers["Location"].endswith(f"/console/organizations/{org}/subscription")
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
    page = urllib.request.Request(
        f"{base}/console/organizations/{org}/subscription?tab=credits", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(page, timeout=30) as response:
        return str(response.read().decode())


def test_billing_up_runs_embedded_and_the_demo_moves_the_balance(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL", "BILLING_QUEUE_PREFIX")
    }
    run = lambda *args: subprocess.run(  # noqa: E731
        [BILLING, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    metrics_port = free_port()
    up = subprocess.Popen(
        [BILLING, "up", "--port", "0", "--webhooks-port", "0"],
        cwd=tmp_path,
        env={**env, "BILLING_METRICS_PORT": str(metrics_port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert up.stdout is not None
        for line in up.stdout:
            lines.append(line)
            if line.startswith("ready."):
                break
        assert any("embedded PostgreSQL" in line for line in lines), lines
        assert any("in-process broker" in line for line in lines), lines
        demo = run("demo", "--events", "60")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "sent 60 events" in demo.stdout
        view = json.loads(run("balance", "demo-org", "--json").stdout)
        assert 0 < float(view["used"]) and view["balance"] != "1000.000000"
        assert view["overdraft"] == "0.000000"  # the welcome credits were in effect when the messages ran
        history = json.loads(run("transactions", "demo-org", "--limit", "100", "--json").stdout)
        assert sum(1 for row in history["data"] if row["type"] == "usage") == 60
        assert run("reconcile").returncode == 0
        api_line = next(line for line in lines if line.startswith("api:"))
        base = api_line.split()[1]
        token = (tmp_path / ".billing" / "admin_token").read_text().strip()
        request = urllib.request.Request(
            f"{base}/v1/organizations/demo-org/balance", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["balance"] == view["balance"]
        assert any(line.startswith(f"console:  {base}/console/") for line in lines), lines
        assert view["balance"].rstrip("0") in _console_credits_page(base, token, "demo-org").replace(",", "")
        # Usage over HTTP from this process, as `curl` in the README: charged in the request (200).
        at = "2026-05-01T12:00:00Z"
        batch = [
            {
                "event_id": f"http-{i}",
                "organization_id": "demo-org",
                "agent_id": "agent-1",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 500,
                "occurred_at": at,
            }
            for i in range(3)
        ]
        ingest = urllib.request.Request(
            f"{base}/v1/events",
            data=json.dumps(batch).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(ingest, timeout=30) as response:
            assert response.status == 200
            outcomes = json.loads(response.read())["events"]
        assert [e["outcome"] for e in outcomes] == ["charged"] * 3
        after = json.loads(run("balance", "demo-org", "--json").stdout)
        assert after["balance"] != view["balance"]
        metrics = scrape(metrics_port)  # one endpoint for every part of the process
        assert metrics.total("billing_http_request_duration_seconds_count", app="api") >= 3
        assert metrics.total("billing_scheduler_sweeps_total", outcome="ok") >= 1
        assert metrics.total("billing_backlog_source_up", source="database") == 1
        assert "billing_usage_events_total" in metrics.names()
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
        down = run("down")
    assert up.returncode == 0
    assert "`billing down` stops it" in rest, rest  # it says that the embedded PostgreSQL keeps running
    assert down.returncode == 0 and "stopped the embedded PostgreSQL" in down.stdout, down.stderr
    assert not (tmp_path / ".billing" / "pgdata" / "postmaster.pid").exists()
    again = run("down")
    assert again.returncode == 0 and "no embedded PostgreSQL runs" in again.stdout
