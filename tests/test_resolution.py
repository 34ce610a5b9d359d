import pytest

from mnist_models import ConfigError, Resolution, parse_resolution


@pytest.mark.parametrize(
    "text, mode, size",
    [
        ("28", "native", 28),
        ("resize:20", "resize", 20),
        ("crop:7", "crop", 7),
        ("pad:32", "pad", 32),
        (" Resize:14 ", "resize", 14),
    ],
)
def test_parse_and_id_round_trip(text: str, mode: str, size: int) -> None:
    res = parse_resolution(text)
    assert (res.mode, res.size, res.pixels) == (mode, size, size * size)
    assert parse_resolution(res.id) == res


@pytest.mark.parametrize(
    "text, message",
    [
        ("crop:29", "crop cannot be larger"),
        ("resize:0", "resize size must be in"),
        ("pad:20", "pad size must be in"),
        ("zoom:3", "resolution must be"),
        ("14", "resolution must be"),
        ("resize:x", "positive integer"),
        ("resize:-3", "positive integer"),
    ],
)
def test_invalid_resolutions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_resolution(text)


def test_native_must_be_28() -> None:
    with pytest.raises(ConfigError, match="native resolution is 28"):
        Resolution("native", 14)
