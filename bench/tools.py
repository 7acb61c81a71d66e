"""Debian tools the benchmarks drive (wrk, spamassassin, ...): found on PATH, installed when missing."""

from __future__ import annotations

import os
import shutil
import subprocess

_updated = False


class ToolMissing(RuntimeError):
    pass


def _apt_get(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, check=False)


def ensure(binary: str, package: str) -> str:
    """The path of ``binary``; when it is missing and we are root on Debian, ``apt-get install``
    ``package`` first (running ``apt-get update -qq`` once if the first install fails)."""
    global _updated
    path = shutil.which(binary)
    if path:
        return path
    hint = f"{binary} is not installed: sudo apt-get install {package}"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ToolMissing(f"{hint} (not root, or no apt-get: cannot install it here)")
    install = ("install", "-y", "-qq", "--no-install-recommends", package)
    result = _apt_get(*install)
    if result.returncode != 0 and not _updated:
        _updated = True
        update = _apt_get("update", "-qq")
        if update.returncode != 0:
            raise ToolMissing(f"{hint} (apt-get update failed: {update.stderr.strip()[-500:]})")
        result = _apt_get(*install)
    if result.returncode != 0:
        raise ToolMissing(f"{hint} (apt-get install failed: {result.stderr.strip()[-500:]})")
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        raise ToolMissing(f"{hint} (installed {package}, but {binary} is still not on PATH)")
    return path
