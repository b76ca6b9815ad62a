"""Loading the configuration: read the TOML file, validate it once, resolve relative paths, and
name the file, the key and the problem in every refusal (`ConfigError`, CLI exit status 2)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from agent.config.model import AgentConfig
from agent.errors import ConfigError


def load_config(path: Path) -> AgentConfig:
    """Read and validate `path`. Raises `ConfigError` naming the file, key and problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return config_from_mapping(raw, source=path)


def require_explicit_hardware(config: AgentConfig, source: Path) -> None:
    """For `locker-agent run`: a real locker never runs on simulated hardware by accident.

    The door driver (at a locker; a counter has no doors) and the camera (when enabled) must be
    named in the file; the simulators are used only when the file says so. Raises
    `ConfigError` (exit status 2) naming the file and the key. `locker-agent demo` is simulated
    on purpose and does not ask."""
    if config.locker.mode == "locker" and "driver" not in config.doors.model_fields_set:
        raise ConfigError(
            f"{source}: doors.driver: not set. Name the door driver in [doors.driver] (type ="
            ' "modbus_tcp", "modbus_rtu" or "gpio"), or type = "simulator" to run on'
            " simulated doors on purpose"
        )
    camera = config.camera
    if camera.enabled and "source" not in camera.model_fields_set:
        raise ConfigError(
            f"{source}: camera.source: not set. Name the camera in [camera] (a device index,"
            ' /dev/videoN, a video file or an rtsp:// URL), source = "simulated" on purpose,'
            " or enabled = false"
        )


def config_from_mapping(raw: dict[str, object], *, source: Path) -> AgentConfig:
    """Validate `raw` (a parsed file) as if read from `source`; `ConfigError` names both."""
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_validation_error(err)}") from None
    return _resolve_paths(config, source.parent)


def _resolve_paths(config: AgentConfig, base: Path) -> AgentConfig:
    """Relative paths in the file are relative to the file's folder."""

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    def maybe(path: Path | None) -> Path | None:
        return None if path is None else resolve(path)

    locker = config.locker.model_copy(update={"data_dir": resolve(config.locker.data_dir)})
    typed_codes = config.typed_codes.model_copy(
        update={"key_file": maybe(config.typed_codes.key_file)}
    )
    hub = config.hub.model_copy(
        update={
            name: maybe(getattr(config.hub, name))
            for name in ("password_file", "ca", "cert", "key")
        }
    )
    trust = config.trust.model_copy(
        update={
            "root_keys": tuple(resolve(p) for p in config.trust.root_keys),
            "bundle": resolve(config.trust.bundle) if config.trust.bundle else None,
        }
    )
    identity = config.identity.model_copy(
        update={
            "iaca": tuple(resolve(p) for p in config.identity.iaca),
            "mrz_font_dir": maybe(config.identity.mrz_font_dir),
        }
    )
    # audit.device_key stays as written: a relative key path lives in the data folder.
    return config.model_copy(
        update={
            "locker": locker,
            "trust": trust,
            "hub": hub,
            "typed_codes": typed_codes,
            "identity": identity,
        }
    )


def describe_validation_error(err: ValidationError) -> str:
    """The first problem as "key `a.b`: message", and how many more there are."""
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"key `{key}`: {first['msg']}{suffix}"
