"""Where the SoR keeps segment bytes: one small interface, two stores.

A blob is written whole or not at all (the filesystem store writes a temporary
file, fsyncs, renames; S3 PUTs are atomic), so a crash never leaves half a
segment behind a key. Keys are ``segments/<origin>/<first>-<hash>``: a
different segment can never overwrite a stored one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from hub.durable import write_private
from hub.errors import Invalid

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,254}$")


class BlobStore(Protocol):
    name: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...


def _check(key: str) -> str:
    if not KEY.match(key) or ".." in key:
        raise Invalid(f"bad blob key {key!r}", f"clé de blob invalide {key!r}")
    return key


class FileStore:
    """Blobs as files under one folder (the default)."""

    name = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / _check(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, data)

    def get(self, key: str) -> bytes | None:
        try:
            return (self.root / _check(key)).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        (self.root / _check(key)).unlink(missing_ok=True)


class S3Store:
    """Blobs in an S3 bucket (AWS, SeaweedFS, MinIO…), path-style addressing."""

    name = "s3"

    def __init__(self, endpoint: str, bucket: str, prefix: str = "", access_key: str = "beffroi",
                 secret_key: str = "beffroi", region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint = endpoint
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=30,
                          request_checksum_calculation="when_required", response_checksum_validation="when_required"))
        self._ensure_bucket()

    @classmethod
    def from_url(cls, url: str) -> "S3Store":
        """``http://KEY:SECRET@host:port/bucket[/prefix]`` (credentials optional)."""
        parts = urlsplit(url)
        path = parts.path.strip("/")
        if parts.scheme not in ("http", "https") or not parts.hostname or not path:
            raise Invalid(f"S3 URL must look like http://[KEY:SECRET@]HOST:PORT/BUCKET[/PREFIX], got {url!r}",
                          f"l'URL S3 doit ressembler à http://[CLE:SECRET@]HOTE:PORT/SEAU[/PREFIXE], reçu {url!r}")
        bucket, _, prefix = path.partition("/")
        endpoint = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        # credentials: the URL's, else the usual AWS variables, else SeaweedFS's demo ones
        return cls(endpoint, bucket, prefix, parts.username or os.environ.get("AWS_ACCESS_KEY_ID") or "beffroi",
                   parts.password or os.environ.get("AWS_SECRET_ACCESS_KEY") or "beffroi")

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_check(key)}" if self.prefix else _check(key)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def keys(self, prefix: str = "") -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(home: Path, s3_url: str | None) -> BlobStore:
    return S3Store.from_url(s3_url) if s3_url else FileStore(Path(home) / "blobs")
