"""`python -m agent.cli.page_cache`: freshly written files leave the page cache; the tool itself
maps none of the libraries it is there to drop."""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.page_cache import drop_page_cache, main

PAGE = mmap.PAGESIZE
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def disk_dir() -> Iterator[Path]:
    """A folder on the disk the venv is on (tmp_path may be a tmpfs, whose pages never drop)."""
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".page-cache-test-") as folder:
        yield Path(folder)


def cached_pages(path: Path) -> int:
    """How many pages of `path` are in the page cache: mincore(2) on a mapping never touched."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long
    ]  # fmt: skip
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = path.stat().st_size
    pages = ctypes.create_string_buffer((size + PAGE - 1) // PAGE)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert address not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            assert libc.mincore(address, size, pages) == 0, os.strerror(ctypes.get_errno())
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)
    return sum(b & 1 for b in pages.raw)


def test_files_just_written_leave_the_page_cache(disk_dir: Path) -> None:
    lib = disk_dir / "site-packages" / "big" / "lib.so"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(os.urandom(4 << 20))  # as pip writes a library: wholly in the cache
    assert cached_pages(lib) > 0

    assert drop_page_cache(disk_dir) == 1

    assert cached_pages(lib) == 0


def test_the_command_drops_the_given_folders_and_refuses_a_missing_one(disk_dir: Path) -> None:
    (disk_dir / "a").write_bytes(b"x" * 8192)
    assert main([str(disk_dir)]) == 0
    assert cached_pages(disk_dir / "a") == 0
    assert main([str(disk_dir / "missing")]) == 2


def test_the_tool_maps_none_of_the_libraries_it_drops() -> None:
    heavy = ("cv2", "numpy", "cryptography", "aiohttp", "pydantic", "zxingcpp", "c2pa")
    probe = (
        "import runpy, sys; sys.argv = ['page_cache', '--help']\n"
        "try:\n    runpy.run_module('agent.cli.page_cache', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
