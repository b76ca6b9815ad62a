"""Errors of the fleet-admin tools. Each carries the CLI exit status it ends with."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """`locker-admin` exit statuses (also listed in `locker-admin --help`)."""

    OK = 0
    FAILED = 1  # an unexpected error (reported in one line, never a traceback)
    USAGE = 2  # bad command line (argparse)
    HUB_TOOLS_MISSING = 3  # `locker-admin hub` without the hub_sync tools installed
    INPUT_UNREADABLE = 4  # an input file is missing or cannot be read
    INPUT_INVALID = 5  # an input file or value is not what it should be (key, bundle, token)
    OUTPUT_FAILED = 6  # an output file exists already or cannot be written
    PASSPHRASE = 7  # a key passphrase is missing, too short, or does not decrypt the key


class ProvisioningError(Exception):
    """A provisioning step failed; `status` is the CLI exit status, the message says what to fix."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.INPUT_INVALID) -> None:
        super().__init__(message)
        self.status = status
