"""The GCS emulator's child process: ``gcp-storage-emulator`` with three fixes.

Run as a script by GCSServer (``python gcs_emulator.py start --host=H --port=P
--in-memory``); it imports nothing of the test suite.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from typing import Any


def parse_multipart_related(raw: bytes, content_type: str) -> dict[str, Any]:
    """Byte-exact multipart/related parser for the emulator's upload handler.

    The emulator parses uploads with ``email.parser``, which treats the "\\r" of content
    ending in b"\\r" as part of a CRLF delimiter when the client (gcsfs) delimits with bare
    LF: such objects lose their last byte (~1 in 256 random blobs).  Here the line-ending
    style is taken from the line after the first delimiter and only that is stripped.
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("no boundary")
    delim = b"--" + match.group(1).encode()
    start = raw.index(delim) + len(delim)
    eol = b"\r\n" if raw[start : start + 2] == b"\r\n" else b"\n"
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in raw[start:].split(eol + delim)[:-1]:
        if not chunk.startswith(eol):
            raise ValueError("malformed part")
        head, sep, content = chunk[len(eol) :].partition(eol + eol)
        if not sep:
            raise ValueError("part without header terminator")
        headers = {}
        for line in head.split(eol):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("content-transfer-encoding", "").lower() == "base64":
            content = base64.b64decode(content)
        parts.append((headers, content))
    if len(parts) != 2:
        raise ValueError(f"expected 2 parts, got {len(parts)}")
    ctype = parts[1][0].get("content-type", "application/octet-stream")
    return {
        "meta": json.loads(parts[0][1]),
        "content": parts[1][1],
        "content-type": ctype.split(";")[0].strip().lower(),
    }


def run_emulator(argv: list[str]) -> int:
    """Start the emulator with ``argv`` (its own command line), patched:

    - it serves one request at a time from http.server.HTTPServer, whose listen backlog is 5:
      concurrent clients (a gcsfs batch, obstore) overflow it and stall on TCP retransmits
      (200 parallel uploads hung for > 2 min) -- raise the backlog;
    - multipart uploads are parsed byte-exactly (see parse_multipart_related);
    - with --in-memory, skip re-serialising the metadata of *every* object as indented JSON
      after each write (nothing reads it back; it made uploads O(n^2): 2,000 PUTs took 26 s).
    """
    import http.server

    http.server.HTTPServer.request_queue_size = 1024
    import gcp_storage_emulator.server as emu
    import gcp_storage_emulator.storage as emu_storage
    from gcp_storage_emulator.__main__ import main

    write_meta = emu_storage.Storage._write_config_to_file

    def write_meta_unless_memory(self: Any) -> None:
        if not getattr(self, "_use_memory_fs", False):
            write_meta(self)

    emu_storage.Storage._write_config_to_file = write_meta_unless_memory

    original = emu._read_data

    def read_data(handler: Any, query: Any) -> Any:
        ctype = handler.headers.get("Content-Type") or ""
        if not ctype.startswith("multipart/related"):
            return original(handler, query)
        raw = emu._decode_raw_data(emu._read_raw_data(handler), handler)
        if not raw:
            return None
        try:
            return parse_multipart_related(raw, ctype)
        except (ValueError, KeyError):
            return original(_Replay(handler, raw), query)

    emu._read_data = read_data
    return int(main(argv) or 0)


class _Replay:
    """A request handler stand-in whose body has already been read (fallback path)."""

    def __init__(self, handler: Any, raw: bytes) -> None:
        import io
        from email.message import Message

        self.headers = Message()  # case-insensitive .get(), like the real handler's headers
        for key, value in handler.headers.items():
            if key.lower() not in ("content-encoding", "content-length", "transfer-encoding"):
                self.headers[key] = value
        self.headers["Content-Length"] = str(len(raw))
        self.rfile = io.BytesIO(raw)


if __name__ == "__main__":
    # As a script, this folder is sys.path[0]: drop it, so that its sibling modules (s3.py,
    # process.py, ...) cannot shadow a top-level module the emulator imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if sys.argv[1:2] != ["start"]:
        sys.exit(f"usage: {sys.argv[0]} start --host=H --port=P --in-memory")
    sys.exit(run_emulator(sys.argv[1:]))
