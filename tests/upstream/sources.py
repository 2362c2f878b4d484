"""Upstream source files for the porting tests: torchvision's from its wheel on the package
index (downloaded once into .upstream_cache/, about 8 MB; nothing of it is installed or
imported as torchvision), detectron2's from a source checkout named by DETECTRON2_SRC."""
import fcntl
import glob
import os
import subprocess
import sys

import pytest

from .porting import tree_sources, wheel_sources

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("NNLITE_UPSTREAM_CACHE", os.path.join(REPO, ".upstream_cache"))
TORCHVISION = "torchvision==0.28.0"


def _wheel_in_cache():
    found = glob.glob(os.path.join(CACHE, "torchvision-0.28.0-*.whl"))
    return found[0] if found else None


def torchvision_sources():
    """{module: source} of torchvision 0.28.0's Python files, or a skip saying why not."""
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:  # one download for all pytest workers
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheel = _wheel_in_cache()
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                       "--only-binary=:all:", "--dest", CACHE, TORCHVISION]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=600)
                why = done.stderr.strip().splitlines()[-1:] if done.returncode else []
            except (OSError, subprocess.TimeoutExpired) as error:
                why = [str(error)]
            wheel = _wheel_in_cache()
            if wheel is None:
                pytest.skip(f"could not download {TORCHVISION}'s wheel for its source files: {why}")
    return wheel_sources(wheel, "torchvision/")


def installed_reference():
    """True when NNLITE_UPSTREAM_REFERENCE=installed: the PyTorch side imports the installed
    torchvision (its compiled kernels included) instead of porting the wheel's files onto PyTorch.
    For a developer's venv that has torchvision; CI has none."""
    return os.environ.get("NNLITE_UPSTREAM_REFERENCE") == "installed"


def detectron2_sources():
    """{module: source} of a detectron2 checkout (DETECTRON2_SRC), or a skip saying why not:
    detectron2 is not on the package index."""
    root = os.environ.get("DETECTRON2_SRC")
    if not root or not os.path.isdir(os.path.join(root, "detectron2")):
        pytest.skip("set DETECTRON2_SRC to a detectron2 source checkout to run its files on nnlite")
    return tree_sources(root, "detectron2")
