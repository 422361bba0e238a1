"""The parsed-YAML cache of start-up: same documents as the safe loader, and an edited file is parsed again."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
import yaml

from cds_service.engine.mapping import load_mappings
from cds_service.engine.yaml_cache import load_yaml

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("IOP_CDS_YAML_CACHE_DIR", str(folder))
    return folder


def test_a_cached_document_equals_a_fresh_parse_and_an_edit_is_seen(cache: Path) -> None:
    text = "policies:\n  p: {min: 2, ok: yes, ratio: 0.5, codes: [H0015, S9480], none: ~}\n"
    first = load_yaml(text)
    assert len(list(cache.glob("*.marshal"))) == 1
    again = load_yaml(text)
    assert again == first == yaml.safe_load(text)
    assert again["policies"]["p"]["ok"] is True
    edited = load_yaml(text.replace("min: 2", "min: 3"))
    assert edited["policies"]["p"]["min"] == 3


def test_dates_are_parsed_each_time_and_broken_yaml_still_raises(cache: Path) -> None:
    assert load_yaml("since: 2025-01-31\n") == {"since": date(2025, 1, 31)}
    assert not list(cache.glob("*.marshal"))
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\n")


def test_a_folder_others_can_write_is_not_used(cache: Path) -> None:
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    (cache / "planted").write_text("x")
    assert load_yaml("a: 1\n") == {"a": 1}
    assert not list(cache.glob("*.marshal"))


def test_the_mappings_load_the_same_from_the_cache(cache: Path) -> None:
    cold = load_mappings(MAPPINGS)
    warm = load_mappings(MAPPINGS)
    assert list(cache.glob("*.marshal"))
    assert sorted(warm.policies) == sorted(cold.policies)
    assert sorted(warm.selections) == sorted(cold.selections)
    assert [c.id for p in warm.policies.values() for c in p.criteria()] == [
        c.id for p in cold.policies.values() for c in p.criteria()
    ]
