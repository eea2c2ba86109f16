"""The container image's content, proven without Docker: exactly what the Dockerfile copies (after
`.dockerignore`), installed into a fresh virtualenv with its runtime dependencies, runs `billing`,
migrates a database and imports every process's entry module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.docker_context import assemble, ignore_patterns, ignored

ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULES = ("workers.__main__", "api.app", "webhooks.app", "billing_cli.main")


def _run(*command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


def test_dockerignore_matching_follows_docker_rules(tmp_path):
    (tmp_path / ".dockerignore").write_text("# comment\n**/__pycache__\ndocs\n*.md\n!README.md\n")
    patterns = ignore_patterns(tmp_path)
    assert ignored("api/__pycache__/app.pyc", patterns)
    assert ignored("__pycache__/x.pyc", patterns)
    assert ignored("docs/metrics.md", patterns)
    assert ignored("CHANGES.md", patterns) and not ignored("README.md", patterns)
    assert not ignored("api/app.py", patterns) and not ignored("docsets/a.py", patterns)


def test_the_image_content_installs_and_runs_every_process_entry(tmp_path, empty_database_url):
    app = tmp_path / "app"
    files = assemble(ROOT, app)
    assert "pyproject.toml" in files
    assert not [f for f in files if f.startswith(("tests/", ".git/", ".venv/"))]

    # Outside the work tree, with nothing of the developer's environment on the path.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path, env=env)
    # Runtime dependencies only (no [dev]); pip's cache is reused between runs.
    _run(str(venv / "bin" / "pip"), "install", "-q", str(app), cwd=tmp_path, env=env)

    billing = str(venv / "bin" / "billing")
    assert "migrate" in _run(billing, "--help", cwd=tmp_path, env=env).stdout
    migrated = _run(billing, "migrate", cwd=tmp_path, env={**env, "DATABASE_URL": empty_database_url})
    assert "database at revision" in migrated.stdout
    python = str(venv / "bin" / "python")
    imports = "; ".join(f"import {m}" for m in ENTRY_MODULES)
    where = _run(python, "-c", f"{imports}; import api; print(api.__file__)", cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
