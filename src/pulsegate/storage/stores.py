"""Where archived log days go: a local directory, or an S3-compatible object store.

A store keeps whole objects under keys (`segment-logs/<source>/<day>/<name>.gz`). Its methods
are blocking (file and HTTP I/O); the archive calls them in a worker thread, never while it
holds a database transaction.

`PULSEGATE_ARCHIVE_URL` chooses the store: a path or `file:///path` (the default is
`<data_dir>/archive`), or `s3://bucket/prefix` with the endpoint and credentials of any
S3-compatible service (AWS S3, MinIO, Cloudflare R2, ...) in the `PULSEGATE_ARCHIVE_S3_*`
settings, through boto3, the reference client.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1024 * 1024


class ArchiveStore(Protocol):
    @property
    def location(self) -> str:
        """Where the objects are, for people (no credentials)."""
        ...

    def put(self, key: str, path: Path) -> None:
        """Store the file at `path` as the object `key`, replacing any object of that key."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes, a chunk at a time; FileNotFoundError if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (nothing happens if there is none)."""
        ...


class LocalStore:
    """Objects as files under a directory; written to a temporary name, then renamed, so a
    reader never sees half an object."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def put(self, key: str, path: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        with partial.open("rb") as written:
            os.fsync(written.fileno())
        partial.replace(target)

    def read(self, key: str) -> Iterator[bytes]:
        with (self.root / key).open("rb") as stored:
            while chunk := stored.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    """Objects in a bucket of an S3-compatible service, under an optional key prefix."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def put(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self.prefix + key)

    def read(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except self.client.exceptions.NoSuchKey as missing:
            raise FileNotFoundError(self.prefix + key) from missing
        yield from body.iter_chunks(CHUNK)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def open_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> ArchiveStore:
    """The store an archive URL names: `s3://bucket/prefix`, `file:///path`, or a path."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        import boto3  # only when an S3 archive is configured
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # A store that does not answer fails the run (retried at the next) instead of
            # holding the job for minutes.
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3}),
        )
        return S3Store(client, parts.netloc, parts.path)
    if parts.scheme == "file":
        return LocalStore(Path(parts.path))
    if parts.scheme == "":
        return LocalStore(Path(url))
    raise ValueError(f"an archive URL is a path, file:///path or s3://bucket/prefix, not {url!r}")
