"""Importing the package is cheap: no data file read and no process-wide state changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import router
from router.cable import textfields

DATA = Path(router.__file__).resolve().parent / "data"

# Run in a fresh interpreter: this one has imported (and used) the package already.
_PROBE = """
import gc, json, os, pkgutil, sys
opened = []
def audit(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.path.realpath(os.fsdecode(args[0])))
sys.addaudithook(audit)
before = [gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()]
import router
imported = ["router"]
for module in pkgutil.walk_packages(router.__path__, "router."):
    if module.name != "router.__main__":  # it runs the command line
        __import__(module.name)
        imported.append(module.name)
after = [gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()]
print(json.dumps({"opened": opened, "before": before, "after": after, "imported": imported}))
"""


def _probe() -> dict[str, list[object]]:
    command = [sys.executable, "-c", _PROBE]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 (our own probe)
    result: dict[str, list[object]] = json.loads(done.stdout)
    return result


def test_importing_every_module_reads_no_data_file_and_leaves_the_gc_alone() -> None:
    """`import router` and all its modules opens nothing under router/data and keeps gc's settings."""
    probe = _probe()
    assert "router.cable.textfields" in probe["imported"]
    assert [path for path in map(str, probe["opened"]) if Path(path).is_relative_to(DATA)] == []
    assert probe["after"] == probe["before"]


def test_the_tag_vocabulary_is_read_once_on_first_use() -> None:
    """The vocabulary comes from router/data/tags.txt, and the same object serves every later call."""
    vocabulary = textfields.tag_vocabulary()
    assert "PREL" in vocabulary.codes
    assert textfields.tag_vocabulary() is vocabulary
