from pathlib import Path

import pytest

from agent.bootstrap.app import build_door_hardware
from agent.config.docs import render
from agent.config.loader import config_from_mapping, load_config
from agent.errors import ConfigError
from hardware.doors.gpio import GpioDoorBank

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
        load_config(path)  # at load, not when the agent starts the driver
    assert "2 doors" in str(info.value)
    assert str(path) in str(info.value)


def test_a_modbus_setting_out_of_range_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(
            {"doors": {"driver": {"type": "modbus_tcp", "host": "127.0.0.1", "device_id": 0}}},
            source=tmp_path / "agent.toml",
        )
    assert "`doors.driver.modbus_tcp.device_id`" in str(info.value)


@pytest.mark.parametrize(
    ("driver", "key"),
    [
        (
            'type = "gpio"\nlatch_lines = [1, 2]\nsensor_lines = [3, 1]',
            "doors.driver.gpio.sensor_lines",
        ),
        (
            'type = "gpio"\nlatch_lines = [1, 2]\nsensor_lines = [3, 4]\npulse_ms = 999999',
            "doors.driver.gpio.pulse_ms",
        ),
        (
            'type = "modbus_tcp"\nhost = "board"\npulse_ms = 999999',
            "doors.driver.modbus_tcp.pulse_ms",
        ),
        ('type = "simulator"\npulse_ms = 999999', "doors.driver.simulator.pulse_ms"),
        ('type = "gpio"\nlatch_lines = [1, 2]\nsensor_lines = [3, 4]\nconsumer = ""', "consumer"),
    ],
)
def test_driver_settings_are_refused_at_load_with_file_and_key(
    tmp_path: Path, driver: str, key: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[[doors.groups]]\nsize = "S"\ncount = 2\n\n[doors.driver]\n{driver}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert key in str(info.value)


def test_the_gpio_consumer_reaches_the_driver(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "doors": {
                "groups": [{"size": "S", "count": 1}],
                "driver": {
                    "type": "gpio",
                    "latch_lines": [7],
                    "sensor_lines": [8],
                    "consumer": "locker-7",
                },
            }
        },
        source=tmp_path / "agent.toml",
    )
    hardware = build_door_hardware(config)
    assert isinstance(hardware.controller, GpioDoorBank)
    assert hardware.controller.consumer == "locker-7"
