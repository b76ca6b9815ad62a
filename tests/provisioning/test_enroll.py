"""`locker-admin device ...`: enrollment files, typed-code digests the agent understands, PINs."""

import json
import stat
import subprocess
import sys
from pathlib import Path

from agent.config.loader import load_config
from agent.services.sessions import pin_matches
from agent.tokens.typed_codes import code_lookup_key
from provisioning.enroll import read_code_key

ADMIN = [sys.executable, "-c", "import sys; from provisioning.cli import main; sys.exit(main())"]


def admin(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ADMIN, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_enroll_writes_private_credentials_and_a_config_that_loads(tmp_path: Path) -> None:
    result = admin(
        "device",
        "enroll",
        "--locker-id",
        "LK-7",
        "--fleet",
        "north",
        "--broker",
        "mqtts://broker.test:8883",
        "--out-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    folder = Path(json.loads(result.stdout)["folder"])
    for secret in ("mqtt.password", "typed-code.key"):
        mode = stat.S_IMODE((folder / secret).stat().st_mode)
        assert mode == 0o600, secret
        assert (folder / secret).read_text() not in result.stdout
    config = load_config(folder / "agent.toml")
    assert (config.locker.id, config.hub.fleet, config.hub.username) == ("LK-7", "north", "LK-7")
    assert config.hub.password_file == folder / "mqtt.password"
    assert config.typed_codes.key_file == folder / "typed-code.key"

    again = admin(
        "device", "enroll", "--locker-id", "LK-7", "--fleet", "north", "--out-dir", str(tmp_path)
    )
    assert again.returncode == 6  # OUTPUT_FAILED: never overwrite a device's credentials
    assert "exists" in again.stderr


def test_a_code_digest_is_what_the_agent_looks_codes_up_by(tmp_path: Path) -> None:
    admin("device", "enroll", "--locker-id", "LK-8", "--fleet", "f", "--out-dir", str(tmp_path))
    key_file = tmp_path / "LK-8" / "typed-code.key"
    result = admin("device", "code-digest", "--key-file", str(key_file), stdin="ab2c-d3ef\n")
    assert result.returncode == 0, result.stderr
    material = json.loads(result.stdout)
    assert material["scheme"] == "hmac-sha256"
    key = read_code_key(key_file)
    assert material["digest"] == code_lookup_key("AB2CD3EF", key)
    bad = admin("device", "code-digest", "--key-file", str(key_file), stdin="nope\n")
    assert bad.returncode == 5
    assert "Traceback" not in bad.stderr


def test_hash_pin_reads_stdin_and_refuses_non_pins() -> None:
    result = admin("device", "hash-pin", stdin="482913\n")
    assert result.returncode == 0, result.stderr
    stored = result.stdout.strip()
    assert pin_matches("482913", stored)
    assert not pin_matches("482914", stored)
    assert admin("device", "hash-pin", stdin="12ab\n").returncode == 5
    assert admin("device", "hash-pin", stdin="").returncode == 2
