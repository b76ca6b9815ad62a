from pathlib import Path

import pytest

from agent.bootstrap.app import build_door_hardware
from agent.config.docs import render
from agent.config.model import config_from_mapping, load_config
from agent.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_docs_are_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `python -m agent.config.docs > docs/configuration.md`"
    )


def test_defaults_are_a_working_demo_locker(tmp_path: Path) -> None:
    config = config_from_mapping({}, source=tmp_path / "agent.toml")
    assert len(config.doors.layout()) == 24
    assert {size for _, size, _ in config.doors.layout()} == {"S", "M", "L"}
    assert any(low for _, _, low in config.doors.layout())
    assert config.locker.data_dir == tmp_path / "data"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = config_from_mapping(
        {"trust": {"root_keys": ["keys/a.pem", "/abs/b.pem"], "bundle": "b.cose"}},
        source=tmp_path / "etc" / "agent.toml",
    )
    assert config.trust.root_keys == (tmp_path / "etc" / "keys/a.pem", Path("/abs/b.pem"))
    assert config.trust.bundle == tmp_path / "etc" / "b.cose"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"doors": {"driver": {"type": "modbus_tcp"}}}, "doors.driver.modbus_tcp.host"),
        ({"doors": {"driver": {"type": "teleport"}}}, "doors.driver"),
        ({"api": {"port": 70000}}, "api.port"),
        ({"locker": {"id": "has space"}}, "locker.id"),
        ({"trust": {"root_keys": ["a", "b", "c"]}}, "trust.root_keys"),
        ({"staff": [{"actor": "x", "role": "staff", "pin_hash": "1234"}]}, "staff.0.pin_hash"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(raw, source=tmp_path / "agent.toml")
    assert f"`{key}`" in str(info.value)
    assert str(tmp_path / "agent.toml") in str(info.value)


def test_a_gpio_driver_must_have_a_line_per_door(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[[doors.groups]]\nsize = "S"\ncount = 3\n\n'
        '[doors.driver]\ntype = "gpio"\nlatch_lines = [1, 2]\nsensor_lines = [3, 4]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        build_door_hardware(load_config(path))
    assert "2 doors" in str(info.value)


def test_a_modbus_setting_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    config = config_from_mapping(
        {"doors": {"driver": {"type": "modbus_tcp", "host": "127.0.0.1", "device_id": 0}}},
        source=tmp_path / "agent.toml",
    )
    with pytest.raises(ConfigError) as info:
        build_door_hardware(config)
    assert "device_id" in str(info.value)
