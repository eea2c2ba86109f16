"""What `docker build` would put in the image, without Docker: the files the Dockerfile's COPY lines
take from the build context, after `.dockerignore`.

Only the forms the project's Dockerfile may use are understood (`COPY [--chown=...] SRC... DEST`
from the context); anything else fails loudly, so a new form needs this module to learn it first.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


def ignore_patterns(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """`.dockerignore` as (is an exception `!`, regex) in file order; the last match wins."""
    path = root / ".dockerignore"
    patterns = []
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.removeprefix("!").strip().strip("/")
        patterns.append((negated, re.compile(_glob_regex(glob))))
    return patterns


def _glob_regex(glob: str) -> str:
    """Docker's matching (Go's filepath.Match plus `**`); a match also covers what is under it."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return f"^{out}(?:/.*)?$"


def ignored(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    excluded = False
    for negated, pattern in patterns:
        if pattern.match(relative):
            excluded = not negated
    return excluded


def copy_sources(dockerfile: Path) -> list[tuple[list[str], str]]:
    """Each COPY line's sources and destination."""
    copies = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            if words and words[0].upper() == "ADD":
                raise AssertionError("ADD is not understood here; use COPY")
            continue
        args = [w for w in words[1:] if not w.startswith("--chown=")]
        if any(w.startswith("--") for w in args) or line.strip().endswith("]"):
            raise AssertionError(f"COPY form not understood here: {line!r}")
        *sources, destination = args
        copies.append((sources, destination))
    return copies


def _walk(root: Path, base: Path, patterns: list[tuple[bool, re.Pattern[str]]]) -> list[Path]:
    """The files under `base`; an ignored folder is not entered unless an exception could reopen it."""
    prune = not any(negated for negated, _ in patterns)
    found = []
    for folder, dirs, names in os.walk(base):
        here = Path(folder)
        if prune:
            dirs[:] = [d for d in dirs if not ignored((here / d).relative_to(root).as_posix(), patterns)]
        found += [here / name for name in names]
    return sorted(found)


def assemble(root: Path, into: Path) -> list[str]:
    """Copy into `into` what the Dockerfile copies into its WORKDIR; returns the files, relative."""
    patterns = ignore_patterns(root)
    files: list[str] = []
    for sources, destination in copy_sources(root / "Dockerfile"):
        target = into / destination.removeprefix("./").rstrip("/") if destination not in (".", "./") else into
        for source in sources:
            base = (root / source).resolve()
            for path in [base] if base.is_file() else _walk(root, base, patterns):
                relative = path.relative_to(root).as_posix()
                if ignored(relative, patterns):
                    continue
                inside = path.relative_to(base) if base.is_dir() else Path(path.name)
                (target / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / inside)
                files.append((target / inside).relative_to(into).as_posix())
    return files
