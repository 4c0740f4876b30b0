"""Requests refuse bad values up front with messages a person can act on."""

import dataclasses

import pytest

from studio.engine.request import MAX_PIXELS, GenerateRequest
from studio.engine.schedulers import SCHEDULER_NAMES
from studio.errors import RequestError


def test_defaults_are_valid_and_empty_prompt_is_allowed():
    request = GenerateRequest(prompt="")
    assert request.prompt == "" and request.count == 1


def test_size_not_multiple_of_8_names_nearest_sizes():
    with pytest.raises(RequestError, match=r"width 100 is not a multiple of 8; the nearest valid sizes are 96 and 104"):
        GenerateRequest(width=100)
    with pytest.raises(RequestError, match=r"height 515 .* 512 and 520"):
        GenerateRequest(height=515)


@pytest.mark.parametrize("steps", [0, 151, -3])
def test_steps_out_of_range(steps):
    with pytest.raises(RequestError, match=r"steps must be 1 to 150"):
        GenerateRequest(steps=steps)


@pytest.mark.parametrize("cfg", [-0.5, 30.5])
def test_guidance_out_of_range(cfg):
    with pytest.raises(RequestError, match=r"guidance scale must be 0 to 30"):
        GenerateRequest(guidance_scale=cfg)


def test_too_large_is_refused_up_front():
    with pytest.raises(RequestError, match=r"too large"):
        GenerateRequest(width=4096, height=2048)
    side = int(MAX_PIXELS**0.5)
    assert GenerateRequest(width=side, height=side).width == side


def test_unknown_scheduler_lists_known_ones():
    with pytest.raises(RequestError) as info:
        GenerateRequest(scheduler="Eular")
    for name in SCHEDULER_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("count", [0, 10])
def test_batch_count_range(count):
    with pytest.raises(RequestError, match="batch count"):
        GenerateRequest(count=count)


def test_non_numbers_are_refused():
    with pytest.raises(RequestError, match="whole number"):
        GenerateRequest(steps="20")
    with pytest.raises(RequestError, match="whole number"):
        GenerateRequest(seed=1.5)


def test_seeds_count_up_and_single_requests_stand_alone():
    request = GenerateRequest(seed=41, count=3)
    assert request.seeds == (41, 42, 43)
    assert request.single(2).seed == 43 and request.single(2).count == 1


def test_frozen_and_dict_round_trip():
    request = GenerateRequest(prompt="a lake", seed=7, steps=12, width=256, height=128)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.prompt = "other"
    data = request.to_dict()
    data["from_a_newer_version"] = True
    assert GenerateRequest.from_dict(data) == request
