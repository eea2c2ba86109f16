"""deploy/: the alert rules and scrape config pass promtool's checks and unit tests, and the
dashboard, the rules and docs/metrics.md name exactly the metrics the code registers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from api.metrics import ApiMetrics
from billing_core.settings import Settings
from webhooks.metrics import WebhookMetrics
from workers.backlog import BacklogCollector
from workers.metrics import SchedulerMetrics, WorkerMetrics
from workers.process import processes_running

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
NAMES = re.compile(r"\bbilling_[a-z0-9_]+\b")
DOCUMENTED = re.compile(r"`(billing_[a-z0-9_]+)`")  # a metric's name, in code style
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _families() -> list[Metric]:
    """Every metric family any process registers (the apps with their shared request histogram)."""
    registry = CollectorRegistry()
    api = ApiMetrics(registry)
    WebhookMetrics(registry, api.http)
    WorkerMetrics(registry)
    SchedulerMetrics(registry)
    families = list(registry.collect())
    families += BacklogCollector(Settings(), engine=None).describe()  # type: ignore[arg-type]
    families += processes_running(lambda: 1).collect()
    return families


def exposed_names() -> set[str]:
    """The sample names a scrape can show (a counter's `_total`, a histogram's three series)."""
    return {f.name + suffix for f in _families() for suffix in SUFFIXES[f.type]}


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is needed; .ci/run installs it"
    result = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_alert_rules_and_the_scrape_config_pass_promtool():
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")


def test_the_alert_rules_unit_tests_pass():
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml")


def test_the_rules_and_the_dashboard_use_only_metrics_the_code_registers():
    known = exposed_names()
    rules = (PROMETHEUS / "alerts.yml").read_text()
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "billing.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(expressions) >= 20
    used = set(NAMES.findall(rules)) | {name for e in expressions for name in NAMES.findall(e)}
    assert used and used - known == set()


def test_docs_metrics_documents_every_metric_and_no_other():
    documented = set(DOCUMENTED.findall((ROOT / "docs" / "metrics.md").read_text()))
    main_names = {f.name + SUFFIXES[f.type][0] if f.type != "histogram" else f.name for f in _families()}
    assert main_names - documented == set(), "registered but not in docs/metrics.md"
    assert documented - exposed_names() - main_names == set(), "in docs/metrics.md but not registered"
