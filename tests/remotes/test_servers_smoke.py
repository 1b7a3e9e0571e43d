"""Smoke tests for the loopback object stores of tests/helpers/servers (SeaweedFS S3, GCS
emulator)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import GCSServer, S3Server, require_module

# ---------------------------------------------------------------------------- S3 / s3fs


def test_s3_fsspec_roundtrip(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket("smoke")
    fs = s3_server.fs()
    fs.pipe(f"{bucket}/dir/a.txt", b"alpha")
    fs.pipe({f"{bucket}/dir/sub/{i}.bin": bytes([i]) * 10 for i in range(5)})  # batched PUTs

    assert fs.cat(f"{bucket}/dir/a.txt") == b"alpha"
    got = fs.cat([f"{bucket}/dir/sub/{i}.bin" for i in range(5)])  # batched GETs
    assert got == {f"{bucket}/dir/sub/{i}.bin": bytes([i]) * 10 for i in range(5)}
    assert sorted(fs.ls(f"{bucket}/dir", detail=False)) == [
        f"{bucket}/dir/a.txt",
        f"{bucket}/dir/sub",
    ]
    assert len(fs.find(f"{bucket}/dir")) == 6
    fs.invalidate_cache()
    assert fs.exists(f"{bucket}/dir/a.txt")
    assert not fs.exists(f"{bucket}/dir/nope")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{bucket}/dir/nope")
    assert bucket != s3_server.make_bucket("smoke")


def test_s3_env_only_client(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """s3_server.env is enough for a client with no explicit options (e.g. a CLI subprocess)."""
    s3fs = require_module("s3fs", "s3fs")
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    bucket = s3_server.make_bucket("env")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe(f"{bucket}/k", b"v")
    assert s3_server.fs().cat(f"{bucket}/k") == b"v"


def test_s3_kill_and_restart_keeps_data(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket("restart")
    fs = s3_server.fs()
    fs.pipe(f"{bucket}/before", b"1")
    ports = dict(s3_server.ports)
    with s3_server.stopped():
        assert not s3_server.is_running()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", ports["s3"]), 1):
            pass
    assert s3_server.ports == ports and s3_server.is_running()
    fs = s3_server.fs()  # fresh client: the old one's pooled connections are dead
    assert fs.cat(f"{bucket}/before") == b"1"
    fs.pipe(f"{bucket}/after", b"2")
    assert sorted(fs.find(bucket)) == [f"{bucket}/after", f"{bucket}/before"]


# ---------------------------------------------------------------------------- S3 / obstore


def test_s3_obstore(s3_server: S3Server) -> None:
    obs = require_module("obstore", "obstore")
    exc = require_module("obstore.exceptions", "obstore")
    bucket = s3_server.make_bucket("obs")
    store = s3_server.obstore_store(bucket)

    obs.put(store, "cas/ab/cdef", b"hello")
    assert bytes(obs.get(store, "cas/ab/cdef").bytes()) == b"hello"
    assert obs.head(store, "cas/ab/cdef")["size"] == 5
    with pytest.raises(FileNotFoundError):  # missing object -> builtin FileNotFoundError
        obs.get(store, "cas/ab/missing")
    with pytest.raises(FileNotFoundError):
        obs.head(store, "cas/ab/missing")
    with pytest.raises(exc.AlreadyExistsError):  # conditional put: If-None-Match: *
        obs.put(store, "cas/ab/cdef", b"other", mode="create")
    assert bytes(obs.get(store, "cas/ab/cdef").bytes()) == b"hello"

    async def bulk() -> list[bool]:
        sem = asyncio.Semaphore(64)

        async def put(i: int) -> None:
            async with sem:
                await obs.put_async(store, f"cas/bulk/{i:03d}", b"x" * i)

        async def exists(i: int) -> bool:
            async with sem:
                try:
                    await obs.head_async(store, f"cas/bulk/{i:03d}")
                except FileNotFoundError:
                    return False
                return True

        await asyncio.gather(*(put(i) for i in range(100)))
        return await asyncio.gather(*(exists(i) for i in range(0, 200, 2)))

    assert sum(asyncio.run(bulk())) == 50
    listed = [m["path"] for m in obs.list(store, prefix="cas/bulk").collect()]
    assert len(listed) == 100
    # Prefixes match whole path segments only: "cas/a" does not match "cas/ab/...".
    assert list(obs.list(store, prefix="cas/a").collect()) == []
    assert obs.list_with_delimiter(store, prefix="cas")["common_prefixes"] == ["cas/ab", "cas/bulk"]


# ---------------------------------------------------------------------------- GCS / gcsfs


def test_gcs_env_is_set(gcs_server: GCSServer) -> None:
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_server.endpoint_url
    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    gcsfs = require_module("gcsfs", "gcsfs")
    assert gcsfs.GCSFileSystem.__name__ == "GCSFileSystem"  # not ExtendedGcsFileSystem


def test_gcs_fsspec_roundtrip(gcs_server: GCSServer) -> None:
    bucket = gcs_server.make_bucket("smoke")
    fs = gcs_server.fs()
    fs.pipe(f"{bucket}/dir/a.txt", b"alpha")
    files = {f"{bucket}/dir/sub/{i:03d}.bin": os.urandom(64) for i in range(150)}
    fs.pipe(files)  # concurrent uploads: need the raised listen backlog (gcs_emulator.py)

    assert fs.cat(f"{bucket}/dir/a.txt") == b"alpha"
    assert fs.cat(list(files)) == files
    assert sorted(fs.ls(f"{bucket}/dir", detail=False)) == [
        f"{bucket}/dir/a.txt",
        f"{bucket}/dir/sub",
    ]
    assert len(fs.find(f"{bucket}/dir")) == 151
    fs.invalidate_cache()
    assert fs.exists(f"{bucket}/dir/a.txt")
    assert not fs.exists(f"{bucket}/dir/nope")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{bucket}/dir/nope")


def test_gcs_env_only_client(gcs_server: GCSServer) -> None:
    """With STORAGE_EMULATOR_HOST exported, gcsfs needs only token='anon'."""
    gcsfs = require_module("gcsfs", "gcsfs")
    bucket = gcs_server.make_bucket("env")
    fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
    fs.pipe(f"{bucket}/k", b"v")
    assert gcs_server.fs().cat(f"{bucket}/k") == b"v"


# ---------------------------------------------------------------------------- GCS / obstore


def _obstore_gcs(gcs_server: GCSServer, bucket: str, tmp_path: Path) -> Any:
    store = require_module("obstore.store", "obstore")
    account = tmp_path / "emulator-account.json"
    account.write_text(
        json.dumps(
            {
                "gcs_base_url": gcs_server.endpoint_url,
                "disable_oauth": True,
                "client_email": "",
                "private_key": "",
                "private_key_id": "",
            }
        )
    )
    return store.GCSStore(
        bucket,
        service_account=str(account),
        client_options={"allow_http": True},
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=5)},
    )


def test_obstore_gcs_emulator_gaps(gcs_server: GCSServer, tmp_path: Path) -> None:
    """obstore's GCSStore speaks the GCS *XML* API; the emulator implements the JSON API and
    only a sliver of the XML one.  Pin down what does and does not work, so a change in either
    package shows up here."""
    obs = require_module("obstore", "obstore")
    exc = require_module("obstore.exceptions", "obstore")
    # obstore percent-encodes every non-alphanumeric byte of the bucket name ("-" -> "%2D");
    # the emulator does not decode it, so only [a-z0-9] bucket names work at all.
    bucket = gcs_server.make_bucket(name=f"obs{uuid.uuid4().hex[:12]}")
    store = _obstore_gcs(gcs_server, bucket, tmp_path)
    fs = gcs_server.fs()

    # PUT /bucket/key is stored, but the reply has no ETag header -> obstore raises.
    with pytest.raises(exc.GenericError, match="ETag"):
        obs.put(store, "k", b"data")
    assert fs.cat(f"{bucket}/k") == b"data"
    # mode="create" (x-goog-if-generation-match: 0) is ignored: the object is overwritten.
    with pytest.raises(exc.GenericError):
        obs.put(store, "k", b"new", mode="create")
    assert fs.cat(f"{bucket}/k") == b"new"
    # GET works on the wire but lacks Last-Modified -> obstore raises.
    with pytest.raises(exc.GenericError, match="Last-Modified"):
        obs.get(store, "k")
    # A missing object is reported properly (404 -> FileNotFoundError).
    with pytest.raises(FileNotFoundError):
        obs.get(store, "missing")
    # HEAD, DELETE and list (GET /bucket?list-type=2) are not implemented: HTTP 501.
    for call in (
        lambda: obs.head(store, "k"),
        lambda: obs.delete(store, "k"),
        lambda: list(obs.list(store).collect()),
    ):
        with pytest.raises(exc.GenericError, match="501"):
            call()
