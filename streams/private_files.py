"""Small files that hold secrets (tokens, keys): written atomically, readable by the owner only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600
PRIVATE_FILE_BYTES_MAX = 256 * 1024 * 1024  # the key store of 100,000 subjects is ~20 MB


class PrivateFileError(OSError):
    pass


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` by `data` atomically: a reader sees the old file or the new one, never half
    of one; a crash leaves the old one. Created 0600, so a secret is never readable by others,
    not even for the moment between creating and chmod-ing a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # O_CREAT's mode does not apply to a leftover partial file
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def read_private_file(path: Path, max_bytes: int = PRIVATE_FILE_BYTES_MAX, require_private: bool = True) -> bytes:
    """The content of a secret file; refused when group or others may read it (as ssh does with
    keys) unless `require_private` is False, or when it is larger than `max_bytes`."""
    with path.open("rb") as stream:
        info = os.fstat(stream.fileno())
        if require_private and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PrivateFileError(f"{path} is accessible to group or others (mode {stat.S_IMODE(info.st_mode):o}); "
                                   f"it holds secrets: chmod 600 {path}")
        if info.st_size > max_bytes:
            raise PrivateFileError(f"{path} is {info.st_size} bytes, the limit is {max_bytes}")
        return stream.read(max_bytes + 1)
