"""The project's own rules: import contracts and a valid compose file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_of_the_architecture_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_docker_compose_file_is_valid():
    compose = shutil.which("docker-compose")
    assert compose, (
        "docker-compose (Debian package) is needed to validate docker-compose.yml; .ci/run installs it"
    )
    env = {**os.environ, "ADMIN_TOKEN": "validation-only"}
    result = subprocess.run([compose, "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
