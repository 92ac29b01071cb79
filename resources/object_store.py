"""Object storage: one small interface, two backends (local directory, S3/MinIO).

Writes are atomic (local: a temp file, then rename; S3: one PUT, atomic by itself) and idempotent:
putting the same bytes under the same key is a no-op reported as `cached`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from sparklio_common.errors import TransientServiceError
from sparklio_common.keys import validate_key
from sparklio_common.media_types import guess_media_type
from sparklio_common.settings import sparklio_home

TEMP_DIR = ".tmp"  # in-flight writes; never listed, swept by `sweep_temp`
TEMP_PREFIX = f"{TEMP_DIR}/"
SHA_META = "sha256"


class ObjectStoreError(RuntimeError):
    """A storage operation that failed (missing object, unreachable server, …)."""


class ObjectStoreUnavailable(ObjectStoreError, TransientServiceError):
    """The store refused, dropped or timed out the call, or answered 429/5xx: a retry may succeed."""


def store_error(message: str, exc: Exception) -> ObjectStoreError:
    """Wrap a backend error, keeping whether a retry can help."""
    from sparklio_common.errors import is_transient

    text = f"{message}: {exc}"
    return ObjectStoreUnavailable("object store", text) if is_transient(exc) else ObjectStoreError(text)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str | None  # None when the backend cannot say without reading the object
    modified: float
    etag: str | None = None


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size: int
    media_type: str
    cached: bool  # True when identical content was already there


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectStoreResource(ConfigurableResource):
    """The interface every asset, sensor and CLI uses. Keys are relative, '/'-separated."""

    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> StoredObject:
        raise NotImplementedError

    def put_file(self, key: str, path: str | Path, media_type: str | None = None) -> StoredObject:
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def download(self, key: str, dest: str | Path) -> Path:
        raise NotImplementedError

    def head(self, key: str) -> ObjectInfo | None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def list(
        self, prefix: str = "", start_after: str | None = None, limit: int | None = None, recursive: bool = True
    ) -> Iterator[ObjectInfo]:
        """Objects under `prefix` in key order, strictly after `start_after`.

        `recursive=False` lists only the objects directly under `prefix` (an S3 `Delimiter='/'` listing),
        so the cost does not grow with what sits in sub-folders such as `briefs/processed/`.
        """
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def move(self, src: str, dst: str) -> None:
        raise NotImplementedError

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy (no download), for large media."""
        raise NotImplementedError

    def url(self, key: str, expires_s: int = 3600) -> str:
        """A link a person can open: presigned (expiring) for S3, file:// for local."""
        raise NotImplementedError

    def sweep_temp(self, older_than_s: float = 3600) -> int:
        """Delete abandoned temp keys from crashed writes; returns how many."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        raise NotImplementedError


class LocalObjectStoreResource(ObjectStoreResource):
    """Embedded default: a directory, `$SPARKLIO_HOME/objects` unless `root` is set."""

    root: str = Field(default="", description="Directory for objects; empty means $SPARKLIO_HOME/objects")

    @property
    def root_path(self) -> Path:
        path = Path(self.root).expanduser() if self.root else sparklio_home() / "objects"
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()

    @property
    def location(self) -> str:
        return str(self.root_path)

    def _path(self, key: str) -> Path:
        key = validate_key(key)
        path = (self.root_path / key).resolve()
        if self.root_path not in path.parents:
            raise ObjectStoreError(f"key escapes the store: {key!r}")
        return path

    def _commit(self, key: str, write_temp) -> StoredObject:
        target = self._path(key)
        temp_dir = self.root_path / TEMP_PREFIX
        temp_dir.mkdir(parents=True, exist_ok=True)
        temp = temp_dir / uuid.uuid4().hex
        try:
            write_temp(temp)
            digest, size = sha256_file(temp), temp.stat().st_size
            if target.is_file() and target.stat().st_size == size and sha256_file(target) == digest:
                return StoredObject(key, digest, size, guess_media_type(key), cached=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)  # atomic on one filesystem
            return StoredObject(key, digest, size, guess_media_type(key), cached=False)
        finally:
            temp.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> StoredObject:
        stored = self._commit(key, lambda temp: temp.write_bytes(data))
        return StoredObject(stored.key, stored.sha256, stored.size, media_type or stored.media_type, stored.cached)

    def put_file(self, key: str, path: str | Path, media_type: str | None = None) -> StoredObject:
        stored = self._commit(key, lambda temp: shutil.copyfile(path, temp))
        return StoredObject(stored.key, stored.sha256, stored.size, media_type or stored.media_type, stored.cached)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ObjectStoreError(f"no object at {key!r} in {self.location}")
        return path.read_bytes()

    def download(self, key: str, dest: str | Path) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ObjectStoreError(f"no object at {key!r} in {self.location}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return dest

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, sha256_file(path), stat.st_mtime)

    def list(
        self, prefix: str = "", start_after: str | None = None, limit: int | None = None, recursive: bool = True
    ) -> Iterator[ObjectInfo]:
        root = self.root_path
        base = root / prefix.rstrip("/") if prefix.rstrip("/") else root
        if not base.exists():
            return
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            if not recursive:
                dirnames[:] = []
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != TEMP_DIR]
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix) and (start_after is None or key > start_after):
                    keys.append(key)
        count = 0
        for key in sorted(keys):
            if limit is not None and count >= limit:
                return
            stat = (root / key).stat()
            count += 1
            yield ObjectInfo(key, stat.st_size, None, stat.st_mtime)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if not source.is_file():
            raise ObjectStoreError(f"no object at {src!r} to move")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def copy(self, src: str, dst: str) -> None:
        source = self._path(src)
        if not source.is_file():
            raise ObjectStoreError(f"no object at {src!r} to copy")
        self._commit(dst, lambda temp: shutil.copyfile(source, temp))

    def url(self, key: str, expires_s: int = 3600) -> str:
        return self._path(key).as_uri()

    def sweep_temp(self, older_than_s: float = 3600) -> int:
        temp_dir = self.root_path / TEMP_PREFIX
        if not temp_dir.exists():
            return 0
        cutoff, removed = time.time() - older_than_s, 0
        for temp in temp_dir.iterdir():
            if temp.stat().st_mtime < cutoff:
                temp.unlink(missing_ok=True)
                removed += 1
        return removed


class S3ObjectStoreResource(ObjectStoreResource):
    """Production: MinIO (or any S3 API) through dagster-aws's S3Resource with `endpoint_url`."""

    endpoint_url: str = Field(description="S3 API endpoint, e.g. the Mac mini's MinIO on :9000")
    bucket: str = Field(default="sparklio")
    access_key_id: str = Field(default="", description="From the environment; never committed")
    secret_access_key: str = Field(default="", description="From the environment; never committed")
    region_name: str = Field(default="us-east-1")
    create_bucket: bool = Field(default=True, description="Create the bucket on first use if missing")
    max_attempts: int = Field(default=5, description="botocore retries for transient errors")

    _client = PrivateAttr(default=None)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket} at {self.endpoint_url}"

    @property
    def client(self):
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            s3 = S3Resource(
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                aws_access_key_id=self.access_key_id or None,
                aws_secret_access_key=self.secret_access_key or None,
                max_attempts=self.max_attempts,
            )
            client = s3.get_client()
            if self.create_bucket:
                self._ensure_bucket(client)
            self._client = client
        return self._client

    def _ensure_bucket(self, client) -> None:
        from botocore.exceptions import ClientError

        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise store_error(f"cannot create bucket {self.bucket!r}", exc) from exc

    def _remote_sha(self, key: str) -> str | None:
        info = self.head(key)
        return info.sha256 if info else None

    def _commit(self, key: str, upload, digest: str, size: int, media_type: str) -> StoredObject:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        key = validate_key(key)
        if self._remote_sha(key) == digest:
            return StoredObject(key, digest, size, media_type, cached=True)
        # A PUT (or a completed multipart upload) is atomic in S3: readers see the old object or the new
        # one, never part of it. Writing a temp key first only left a key behind when a run was killed.
        try:
            upload(key, {"Metadata": {SHA_META: digest}, "ContentType": media_type})
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise store_error(f"cannot write {key!r} to {self.location}", exc) from exc
        return StoredObject(key, digest, size, media_type, cached=False)

    def put_bytes(self, key: str, data: bytes, media_type: str | None = None) -> StoredObject:
        media_type = media_type or guess_media_type(key)

        def upload(target: str, extra: dict) -> None:
            self.client.put_object(Bucket=self.bucket, Key=target, Body=data, **extra)

        return self._commit(key, upload, sha256_bytes(data), len(data), media_type)

    def put_file(self, key: str, path: str | Path, media_type: str | None = None) -> StoredObject:
        media_type = media_type or guess_media_type(key)

        def upload(target: str, extra: dict) -> None:
            self.client.upload_file(str(path), self.bucket, target, ExtraArgs=extra)

        return self._commit(key, upload, sha256_file(Path(path)), Path(path).stat().st_size, media_type)

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise store_error(f"cannot read {key!r} from {self.location}", exc) from exc

    def download(self, key: str, dest: str | Path) -> Path:
        from botocore.exceptions import BotoCoreError, ClientError

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, validate_key(key), str(dest))
        except (ClientError, BotoCoreError) as exc:
            raise store_error(f"cannot read {key!r} from {self.location}", exc) from exc
        return dest

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise store_error(f"cannot stat {key!r} in {self.location}", exc) from exc
        except BotoCoreError as exc:
            raise store_error(f"cannot stat {key!r} in {self.location}", exc) from exc
        return ObjectInfo(
            key,
            int(meta["ContentLength"]),
            meta.get("Metadata", {}).get(SHA_META),
            meta["LastModified"].timestamp(),
            meta.get("ETag", "").strip('"') or None,
        )

    def list(
        self, prefix: str = "", start_after: str | None = None, limit: int | None = None, recursive: bool = True
    ) -> Iterator[ObjectInfo]:
        # StartAfter makes the cost grow with the objects after the cursor, not the whole prefix
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        if start_after:
            kwargs["StartAfter"] = start_after
        count = 0
        while True:
            if limit is not None:
                kwargs["MaxKeys"] = max(1, min(1000, limit - count))
            page = self.client.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                if item["Key"].startswith(TEMP_PREFIX):
                    continue
                yield ObjectInfo(
                    item["Key"], int(item["Size"]), None, item["LastModified"].timestamp(), item.get("ETag", "").strip('"')
                )
                count += 1
                if limit is not None and count >= limit:
                    return
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
            kwargs.pop("StartAfter", None)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def move(self, src: str, dst: str) -> None:
        self.copy(src, dst)
        self.client.delete_object(Bucket=self.bucket, Key=src)

    def copy(self, src: str, dst: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=validate_key(dst), CopySource={"Bucket": self.bucket, "Key": validate_key(src)}
        )

    def url(self, key: str, expires_s: int = 3600) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": validate_key(key)}, ExpiresIn=int(expires_s)
        )

    def sweep_temp(self, older_than_s: float = 3600) -> int:
        cutoff, removed = time.time() - older_than_s, 0
        page_kwargs = {"Bucket": self.bucket, "Prefix": TEMP_PREFIX}
        for page in self.client.get_paginator("list_objects_v2").paginate(**page_kwargs):
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        return removed
