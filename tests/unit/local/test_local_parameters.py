"""IMMICHVR_LOCAL_PARAMETERS: template parameters for the local stack, as `sam deploy` takes overrides."""

from __future__ import annotations

import pytest

from immichvr_local.app import local_parameters


def test_pairs_are_separated_by_spaces_or_commas() -> None:
    assert local_parameters("EnableImmichSync=true SyncIntervalMinutes=5") == {
        "EnableImmichSync": "true",
        "SyncIntervalMinutes": "5",
    }
    assert local_parameters("A=1,B=2") == {"A": "1", "B": "2"}


def test_a_list_value_keeps_its_commas() -> None:
    assert local_parameters("DepthTiers=thumbnail,full_resolution EvictAfterDays=30") == {
        "DepthTiers": "thumbnail,full_resolution",
        "EvictAfterDays": "30",
    }
    assert local_parameters("PremadeDerivatives=png8,stereo-sbs,DepthTiers=thumbnail,preview") == {
        "PremadeDerivatives": "png8,stereo-sbs",
        "DepthTiers": "thumbnail,preview",
    }


def test_a_pair_without_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="Name=value"):
        local_parameters("DepthTiers")
