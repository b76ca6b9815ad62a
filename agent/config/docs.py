"""Renders docs/configuration.md from the config models, so every key is documented.

`python -m agent.config.docs > docs/configuration.md`; a test fails when the file is stale.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import PurePath

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agent.config.model import AgentConfig

HEADER = """# Configuration

The agent reads one TOML file (`locker-agent run --config PATH`), validated once at start. An
unknown key, a wrong type or an out-of-range value stops the agent with exit status 2 and one
message naming the file, the key and the problem. Relative paths are relative to the file's
folder. `locker-agent demo` runs on the defaults below (simulated doors and camera, no hub).

A real locker never runs on simulated hardware by accident: `locker-agent run` refuses to start
(exit status 2, naming the key) unless the file names the door driver in `[doors.driver]` (a
counter has no doors) and the camera's `source` in `[camera]` (or sets `enabled = false`). To
run on the simulators on purpose, say so: `type = "simulator"` and `source = "simulated"`.

This page is generated from the code (`python -m agent.config.docs`); a test keeps it current.

## Example

```toml
[locker]
id = "LK-BERLIN-0042"
data_dir = "/var/lib/locker-agent"

[[doors.groups]]
size = "S"
count = 8

[[doors.groups]]
size = "M"
count = 4
low = true

[doors.driver]
type = "modbus_tcp"
host = "192.168.50.10"

[trust]
root_keys = ["/etc/locker-agent/root-primary.pub.pem", "/etc/locker-agent/root-backup.pub.pem"]
bundle = "/etc/locker-agent/bundle.cose"

[camera]
source = "/dev/video0"
width = 1280
height = 720

[[staff]]
actor = "staff-0007"
role = "staff"
pin_hash = "scrypt$..."   # locker-admin device hash-pin
```
"""


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if origin is typing.Annotated:
        return _type_name(args[0])
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "required" if field.default_factory is None else "(see section)"
    value = field.default
    if isinstance(value, BaseModel | tuple) and value:
        return "(see section)"
    if isinstance(value, PurePath):
        return f"`{value}`"
    return f"`{value!r}`" if value is not None else "none"


def _models(annotation: object) -> list[type[BaseModel]]:
    """The config models inside an annotation (a union, a tuple of tables, Annotated...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(m for m in _models(arg) if m not in found)
    return found


def _section(
    prefix: str, model: type[BaseModel], seen: set[tuple[str, str]] | None = None
) -> Iterator[str]:
    seen = set() if seen is None else seen
    if (prefix, model.__name__) in seen:
        return
    seen.add((prefix, model.__name__))
    title = model.__doc__ if model.__doc__ and "Usage docs" not in model.__doc__ else ""
    yield f"\n## `{prefix}`" + (f" ({model.__name__})" if "." in prefix else "")
    if title:
        yield f"\n{inspect.cleandoc(title)}"
    yield "\n| key | type | default | meaning |\n|---|---|---|---|"
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        models = _models(field.annotation)
        yield (
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
            f"{(field.description or '').replace('|', '/')} |"
        )
        nested.extend((f"{prefix}.{name}", m) for m in models)
    for child_prefix, child in nested:
        yield from _section(child_prefix, child, seen)


def render() -> str:
    """The whole of docs/configuration.md, one section per config model."""
    lines, seen = [HEADER], set[tuple[str, str]]()
    for name, field in AgentConfig.model_fields.items():
        for model in _models(field.annotation):
            lines.extend(_section(name, model, seen))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
