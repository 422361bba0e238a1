"""The parsed-YAML cache of start-up: same documents as the safe loader, and an edited file is parsed again."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.engine import yaml_cache
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


DAY = 86_400


def _entries(cache: Path) -> set[str]:
    return {p.name for p in cache.glob("*.marshal")}


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Texts the cache hands to the YAML parser from now on (its misses)."""
    seen: list[str] = []
    real = yaml_cache.yaml.load

    def counting(text: str, Loader: Any) -> Any:  # noqa: N803 - yaml.load's own keyword
        seen.append(text)
        return real(text, Loader=Loader)

    monkeypatch.setattr(yaml_cache.yaml, "load", counting)
    return seen


def test_an_edited_file_keeps_only_its_newest_versions(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, other = tmp_path / "policy.yaml", tmp_path / "other.yaml"
    load_yaml("other: 1\n", other)
    for version in range(6):
        load_yaml(f"version: {version}\n", source)
    assert len(_entries(cache)) == yaml_cache.KEEP_VERSIONS + 1  # the other file's entry is untouched
    parsed = _parses(monkeypatch)
    assert load_yaml("other: 1\n", other) == {"other": 1}
    newest_first = list(reversed(range(6)))
    assert [load_yaml(f"version: {v}\n", source)["version"] for v in newest_first] == newest_first
    assert parsed == [f"version: {v}\n" for v in newest_first[yaml_cache.KEEP_VERSIONS :]]  # only the pruned ones


def test_switching_back_to_a_recent_version_parses_nothing(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "policy.yaml"
    texts = [f"version: {v}\n" for v in range(yaml_cache.KEEP_VERSIONS)]
    for text in texts:
        load_yaml(text, source)
    parsed = _parses(monkeypatch)
    assert [load_yaml(text, source)["version"] for text in texts] == list(range(yaml_cache.KEEP_VERSIONS))
    assert parsed == []


def test_entries_unread_for_a_month_go_at_the_next_start_up_that_writes(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_yaml("stale: 1\n", tmp_path / "gone.yaml")
    load_yaml("read: 1\n", tmp_path / "kept.yaml")
    stale, read = (next(cache.glob(f"{yaml_cache._source_prefix(tmp_path / n)}*")) for n in ("gone.yaml", "kept.yaml"))
    scratch = cache / ".tmp-crashed"
    scratch.write_bytes(b"half")
    for path in (stale, read, scratch):
        _age(path, yaml_cache.MAX_IDLE_DAYS + 1)
    _age(read, 2)
    assert load_yaml("read: 1\n", tmp_path / "kept.yaml") == {"read": 1}  # a hit: marks the entry used, prunes nothing
    assert stale.exists() and time.time() - read.stat().st_mtime < DAY
    _age(read, yaml_cache.MAX_IDLE_DAYS - 1)
    monkeypatch.setattr(yaml_cache, "_swept", set())  # a later start-up: its first miss sweeps the folder
    load_yaml("new: 1\n", tmp_path / "new.yaml")
    assert not stale.exists() and not scratch.exists()
    assert read.exists()


def test_a_warm_start_neither_parses_nor_prunes(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_mappings(MAPPINGS)
    written = _entries(cache)

    def no_prune(folder: Path, **_: Any) -> None:
        raise AssertionError(f"pruned {folder} on a warm start")

    monkeypatch.setattr(yaml_cache, "prune", no_prune)
    parsed = _parses(monkeypatch)
    assert "molina" in load_mappings(MAPPINGS).policies
    assert parsed == [] and _entries(cache) == written
