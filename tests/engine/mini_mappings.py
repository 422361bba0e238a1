"""A tiny mappings folder for the loading tests: the shipped facts and value sets, and one 'mini' policy."""

from __future__ import annotations

import shutil
from pathlib import Path

from cds_service.config import PROJECT_ROOT

MINI_HEADER = """
policy: mini
title: Mini policy
payer: Mini Health
url: https://payer.example/mini
tree:
  id: mini
  all-of:
"""


def mini_policy(criteria: str) -> str:
    """The mini policy file with ``criteria`` (YAML list items indented under ``all-of``) as its tree."""
    return MINI_HEADER + criteria


def mini_folder(folder: Path, policy: str) -> Path:
    """``folder`` made a mappings folder: shared valuesets.yaml and facts.yaml, empty facts/, ``policy`` as
    policies/mini.yaml, and a payers.yaml routing everyone to it."""
    for name in ("valuesets.yaml", "facts.yaml"):
        shutil.copy(PROJECT_ROOT / "mappings" / name, folder / name)
    (folder / "facts").mkdir()
    (folder / "policies").mkdir()
    (folder / "policies" / "mini.yaml").write_text(policy)
    (folder / "payers.yaml").write_text("routes: []\ndefault: [mini]\n")
    return folder
