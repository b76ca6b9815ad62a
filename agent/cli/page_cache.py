"""Drop the page cache of freshly installed files, so the agent starts as after a reboot.

Run after installing or upgrading the agent's virtual environment (`make install` does):

    .venv/bin/python -m agent.cli.page_cache .venv

Why: a read fault on a library's file mapping also maps the neighbours of the faulting page that
are already in the page cache, and on kernels with large page-cache folios (ext4 on 6.x) it maps
a cached folio whole. Files that pip has just written sit in the cache entirely, often in 1 MB
folios, so the agent's first start after an install maps megabytes of OpenCV, NumPy and
cryptography it never touches: 159-165 MB of RSS with the camera pipeline running, against
116-118 MB for the same files after a reboot (docs/reliability.md, "Where the RSS goes"). Once
the freshly written pages are dropped, the agent reads what it touches, as after boot.

`posix_fadvise(POSIX_FADV_DONTNEED)` needs no privilege, writes nothing and leaves alone the pages
that a running process maps. This module imports the standard library only: a tool that mapped
the libraries it drops would keep them cached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def drop_page_cache(root: Path) -> int:
    """Drop the cached pages of every regular file under `root`; return how many files."""
    os.sync()  # dirty pages are written first: DONTNEED drops only clean ones
    dropped = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:  # a symlink, a socket, unreadable: nothing of ours to drop
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                dropped += 1
            finally:
                os.close(fd)
    return dropped


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agent.cli.page_cache [DIR ...]`: drop the page cache of DIRs (default: the
    running interpreter's environment)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dirs", nargs="*", type=Path, default=[Path(sys.prefix)])
    args = parser.parse_args(argv)
    for folder in args.dirs:
        if not folder.is_dir():
            print(f"not a directory: {folder}", file=sys.stderr)
            return 2
        print(f"page cache dropped for {drop_page_cache(folder)} files under {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
