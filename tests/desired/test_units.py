"""Units operators write: durations, sizes, percentages, counts."""
from __future__ import annotations

import pytest

from overseer.desired import units


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("2s", 2.0), ("1m", 60.0), ("1.5h", 5400.0),
                                          (" 3s ", 3.0)])
def test_durations(text, seconds):
    assert units.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [5, "5", "2 sec", True, None, "-1s", [1]])
def test_bad_durations_name_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="duration like 500ms"):
        units.parse_duration(bad)


@pytest.mark.parametrize("text,size", [("512MiB", 512 * 1024**2), ("2GiB", 2 * 1024**3), ("1.5GiB", 1.5 * 1024**3),
                                       (4096, 4096.0), ("1kB", 1000.0)])
def test_sizes(text, size):
    assert units.parse_size(text) == size


@pytest.mark.parametrize("bad", ["3 gigs", -1, False, "GiB"])
def test_bad_sizes(bad):
    with pytest.raises(ValueError, match="size like 512MiB"):
        units.parse_size(bad)


@pytest.mark.parametrize("value,percent", [("85%", 85.0), (85, 85.0), (0, 0.0), ("100%", 100.0), (12.5, 12.5)])
def test_percentages(value, percent):
    assert units.parse_percent(value) == percent


@pytest.mark.parametrize("bad", ["101%", -1, "lots", True])
def test_bad_percentages(bad):
    with pytest.raises(ValueError, match="percentage"):
        units.parse_percent(bad)


def test_counts_and_lag():
    assert units.parse_count(400) == 400.0
    with pytest.raises(ValueError):
        units.parse_count(1.5)
    assert units.parse_size_or_duration("10s") == ("seconds", 10.0)
    assert units.parse_size_or_duration("16MiB") == ("bytes", 16 * 1024**2)
    with pytest.raises(ValueError, match="16MiB"):
        units.parse_size_or_duration("soon")


def test_formatting_round_numbers():
    assert units.format_duration(0.25) == "250ms"
    assert units.format_duration(2) == "2s"
    assert units.format_size(1536 * 1024**2) == "1.5 GiB"
