"""The object store: raw partner files (content-addressed) and generated artefacts.

One interface, two adapters:

- ``LocalStore``: a folder per institution, for the demo, laptops and sandboxes.
- ``S3Store``: one versioned bucket per institution on any S3-compatible server
  (SeaweedFS in deployments), through the ``minio`` client.

Every institution's objects live apart (own bucket or folder), so an S3 bucket
policy or a filesystem permission can isolate a partner without touching code.
Raw files are archived under ``raw/<sha256[:2]>/<sha256>``: the same upload twice is
stored once, and a raw object is never rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit

from services.config import Settings, StorageEnv, section

RAW_PREFIX = "raw/"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_CHUNK = 1024 * 1024
# Uploads up to this size stay in memory while hashed; bigger ones go to a temp file.
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# Multipart part size: bounds the memory of one upload to a few parts.
_S3_PART_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    version_id: str | None
    created: bool  # False when the same content was already stored (put_raw)


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about an object: enough to serve it back as a download."""

    key: str
    size: int
    sha256: str | None
    version_id: str | None
    filename: str | None
    content_type: str


class ObjectNotFound(KeyError):
    """No such institution, key or version."""


@runtime_checkable
class ObjectStore(Protocol):
    def put_raw(
        self,
        institution: str,
        data: bytes | BinaryIO,
        *,
        filename: str,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> StoredObject: ...

    def get(self, institution: str, key: str, version_id: str | None = None) -> bytes: ...

    def open(self, institution: str, key: str) -> BinaryIO: ...

    def stat(self, institution: str, key: str) -> ObjectInfo: ...

    def exists(self, institution: str, key: str) -> bool: ...

    def list(self, institution: str, prefix: str = "") -> list[str]: ...

    def put(
        self, institution: str, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject: ...

    def delete_institution(self, institution: str) -> None: ...


def raw_key(sha256: str) -> str:
    return f"{RAW_PREFIX}{sha256[:2]}/{sha256}"


# --- names -------------------------------------------------------------------------

_PREFIX_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_SUBSTITUTED = re.compile(r"[_.\s]+")
_BUCKET_CHARS = re.compile(r"[a-z0-9-]+")


def _institution_slug(institution: str) -> str:
    """Lowercase S3-safe form of an institution code (e.g. ``INS`` -> ``ins``).

    When characters had to be replaced (``social_affairs``), a short hash of the
    original is appended so that two different codes never share a bucket.
    """
    original = institution.strip().lower()
    slug = _SUBSTITUTED.sub("-", original).strip("-")
    slug = re.sub(r"-{2,}", "-", slug)
    if not slug or not _BUCKET_CHARS.fullmatch(slug):
        raise ValueError(f"institution code {institution!r} must be letters, digits, '-' or '_'")
    if slug != original:
        slug = f"{slug}-{hashlib.sha256(original.encode()).hexdigest()[:8]}"
    return slug


def bucket_name(prefix: str, institution: str) -> str:
    """The bucket of an institution: ``bucket_name("marsad", "INS") == "marsad-ins"``.

    Always a valid S3 bucket name: lowercase letters, digits and hyphens, 3-63 chars.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"bucket prefix {prefix!r}: 1-32 lowercase letters, digits or '-'")
    slug = _institution_slug(institution)
    name = f"{prefix}-{slug}"
    if len(name) > 63:
        digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
        name = f"{name[: 63 - 9].rstrip('-')}-{digest}"
    return name


def _check_key(key: str) -> str:
    # Same rules for both adapters so code tested on one works on the other; dot
    # segments are refused because LocalStore keeps its bookkeeping in dot folders.
    if not key or key.startswith("/") or key.endswith("/") or "\\" in key or "\0" in key:
        raise ValueError(f"invalid object key {key!r}")
    if any(part in ("", ".", "..") or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}: empty or dot segment")
    return key


# --- hashing while spooling --------------------------------------------------------


def _iter_chunks(data: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            yield bytes(view[start : start + _CHUNK])
        return
    while chunk := data.read(_CHUNK):
        yield chunk


def _copy_hashing(data: bytes | BinaryIO, target: BinaryIO) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in _iter_chunks(data):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


# --- local folder ------------------------------------------------------------------


_VERSION_ID = re.compile(r"\d{20}-[0-9a-f]{8}")


def _new_version_id() -> str:
    # Sortable by time, unique across processes.
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


class LocalStore:
    """Objects as files: ``root/<institution>/<key>``.

    Bookkeeping sits beside the objects, in dot folders that keys can never name:
    ``.meta/<key>.json`` (filename, content type, sha256, version id) and
    ``.versions/<key>/<version_id>`` (+ ``.json``) for replaced versions.
    Writes go to a temp file then ``os.replace``, so readers never see half a file.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # paths
    def _dir(self, institution: str) -> Path:
        return self.root / _institution_slug(institution)

    def _path(self, institution: str, key: str) -> Path:
        return self._dir(institution) / _check_key(key)

    def _meta_path(self, institution: str, key: str) -> Path:
        return self._dir(institution) / ".meta" / f"{key}.json"

    def _version_dir(self, institution: str, key: str) -> Path:
        return self._dir(institution) / ".versions" / key

    @contextlib.contextmanager
    def _locked(self, institution: str) -> Iterator[Path]:
        # Serialises writers of one institution across processes (portal and worker).
        folder = self._dir(institution)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _write_json(path: Path, payload: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", delete=False) as tmp:
            json.dump(payload, tmp, ensure_ascii=False, indent=1)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)

    def _read_meta(self, institution: str, key: str) -> dict:
        try:
            return json.loads(self._meta_path(institution, key).read_text())
        except FileNotFoundError:
            # An object copied in by hand has no sidecar; describe it from the file.
            path = self._path(institution, key)
            if not path.is_file():
                raise ObjectNotFound(f"{institution}:{key}") from None
            return {"key": key, "size": path.stat().st_size, "version_id": None}

    def _commit(self, folder: Path, tmp_path: Path, key: str, meta: dict, keep_previous: bool) -> None:
        """Move a finished temp file into place (caller holds the lock)."""
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        meta_path = folder / ".meta" / f"{key}.json"
        if keep_previous and target.is_file():
            previous = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            old_id = previous.get("version_id") or _new_version_id()
            versions = folder / ".versions" / key
            versions.mkdir(parents=True, exist_ok=True)
            # A hard link keeps the old bytes without copying; the current name stays valid
            # until os.replace swaps it.
            try:
                os.link(target, versions / old_id)
            except OSError:
                shutil.copy2(target, versions / old_id)
            self._write_json(versions / f"{old_id}.json", {**previous, "version_id": old_id})
        os.replace(tmp_path, target)
        self._write_json(meta_path, meta)

    def _spool(self, folder: Path, data: bytes | BinaryIO) -> tuple[Path, int, str]:
        # The temp file sits in the destination folder so the final move is a rename.
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha = _copy_hashing(data, out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), size, sha

    def put_raw(self, institution, data, *, filename, content_type=DEFAULT_CONTENT_TYPE):
        folder = self._dir(institution)
        folder.mkdir(parents=True, exist_ok=True)
        tmp_path, size, sha = self._spool(folder, data)
        key = raw_key(sha)
        with self._locked(institution):
            if (folder / key).is_file():
                tmp_path.unlink()
                meta = self._read_meta(institution, key)
                return StoredObject(key, size, sha, meta.get("version_id"), created=False)
            version_id = _new_version_id()
            meta = {
                "key": key, "size": size, "sha256": sha, "version_id": version_id,
                "filename": filename, "content_type": content_type,
            }
            self._commit(folder, tmp_path, key, meta, keep_previous=False)
        return StoredObject(key, size, sha, version_id, created=True)

    def put(self, institution, key, data, content_type=DEFAULT_CONTENT_TYPE):
        _check_key(key)
        folder = self._dir(institution)
        folder.mkdir(parents=True, exist_ok=True)
        tmp_path, size, sha = self._spool(folder, data)
        version_id = _new_version_id()
        meta = {
            "key": key, "size": size, "sha256": sha, "version_id": version_id,
            "filename": key.rsplit("/", 1)[-1], "content_type": content_type,
        }
        with self._locked(institution):
            self._commit(folder, tmp_path, key, meta, keep_previous=True)
        return StoredObject(key, size, sha, version_id, created=True)

    def _version_path(self, institution: str, key: str, version_id: str | None) -> Path:
        path = self._path(institution, key)
        if version_id is None:
            return path
        if not _VERSION_ID.fullmatch(version_id):  # e.g. "x.json" would name a sidecar
            raise ObjectNotFound(f"{institution}:{key}@{version_id}")
        meta_path = self._meta_path(institution, key)
        if meta_path.is_file() and json.loads(meta_path.read_text()).get("version_id") == version_id:
            return path
        return self._version_dir(institution, key) / version_id

    def get(self, institution, key, version_id=None):
        path = self._version_path(institution, key, version_id)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{institution}:{key}") from None

    def open(self, institution, key):
        try:
            return open(self._path(institution, key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{institution}:{key}") from None

    def stat(self, institution, key):
        meta = self._read_meta(institution, _check_key(key))
        return ObjectInfo(
            key=key, size=meta["size"], sha256=meta.get("sha256"), version_id=meta.get("version_id"),
            filename=meta.get("filename"), content_type=meta.get("content_type", DEFAULT_CONTENT_TYPE),
        )

    def exists(self, institution, key):
        return self._path(institution, key).is_file()

    def list(self, institution, prefix=""):
        folder = self._dir(institution)
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            relative = Path(dirpath).relative_to(folder)
            for name in filenames:
                if name.startswith("."):
                    continue
                key = (relative / name).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete_institution(self, institution):
        folder = self._dir(institution)
        if folder.exists():
            shutil.rmtree(folder)


# --- S3 ----------------------------------------------------------------------------

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NoSuchObject", "ResourceNotFound"}


class _ResponseReader(io.RawIOBase):
    """A streamed S3 GET as a file object; closing it gives the connection back."""

    def __init__(self, response):
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._response.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


class S3Store:
    """One bucket per institution, versioning enabled, created on first write."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        bucket_prefix: str = "marsad",
        region: str = "us-east-1",
    ):
        from minio import Minio

        if "://" in endpoint:  # accept a URL; its scheme decides TLS
            parts = urlsplit(endpoint)
            endpoint, secure = parts.netloc, parts.scheme == "https"
        bucket_name(bucket_prefix, "x")  # validates the prefix early
        self.endpoint = endpoint
        self.secure = secure
        self.bucket_prefix = bucket_prefix
        # Giving the region saves a GetBucketLocation round trip per bucket.
        self.client = Minio(endpoint, access_key, secret_key, secure=secure, region=region)
        self.region = region
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.endpoint!r}, bucket_prefix={self.bucket_prefix!r})"

    def bucket(self, institution: str) -> str:
        return bucket_name(self.bucket_prefix, institution)

    def _writable_bucket(self, institution: str) -> str:
        from minio.commonconfig import ENABLED
        from minio.error import S3Error
        from minio.versioningconfig import VersioningConfig

        name = self.bucket(institution)
        if name in self._ready:
            return name
        with self._ready_lock:
            if name in self._ready:
                return name
            if not self.client.bucket_exists(name):
                try:
                    self.client.make_bucket(name, location=self.region)
                except S3Error as exc:  # another process won the race
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            # Checked even for existing buckets: a bucket made by hand must not stay unversioned.
            if self.client.get_bucket_versioning(name).status != ENABLED:
                self.client.set_bucket_versioning(name, VersioningConfig(ENABLED))
            self._ready.add(name)
        return name

    @staticmethod
    def _missing(exc: Exception) -> bool:
        return getattr(exc, "code", None) in _MISSING_CODES

    def _metadata(self, filename: str, sha: str) -> dict[str, str]:
        # S3 metadata headers are ASCII only; Arabic and accented names are percent-encoded.
        return {"filename": quote(filename, safe=""), "sha256": sha}

    def _upload(self, bucket: str, key: str | None, data: bytes | BinaryIO, filename: str, content_type: str):
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        with spool:
            size, sha = _copy_hashing(data, spool)
            spool.seek(0)
            if key is None:  # raw file: the key is known only once the content is hashed
                key = raw_key(sha)
                existing = self._stat(bucket, key)
                if existing is not None:
                    return StoredObject(key, size, sha, existing.version_id, created=False)
            result = self.client.put_object(
                bucket, key, spool, size, content_type=content_type,
                metadata=self._metadata(filename, sha),
                part_size=_S3_PART_SIZE, num_parallel_uploads=1,
            )
        return StoredObject(key, size, sha, result.version_id, created=True)

    def _stat(self, bucket: str, key: str, version_id: str | None = None):
        from minio.error import S3Error

        try:
            return self.client.stat_object(bucket, key, version_id=version_id)
        except S3Error as exc:
            if self._missing(exc):
                return None
            raise

    def put_raw(self, institution, data, *, filename, content_type=DEFAULT_CONTENT_TYPE):
        return self._upload(self._writable_bucket(institution), None, data, filename, content_type)

    def put(self, institution, key, data, content_type=DEFAULT_CONTENT_TYPE):
        bucket = self._writable_bucket(institution)
        return self._upload(bucket, _check_key(key), data, key.rsplit("/", 1)[-1], content_type)

    def _response(self, institution: str, key: str, version_id: str | None):
        from minio.error import S3Error

        try:
            return self.client.get_object(self.bucket(institution), _check_key(key), version_id=version_id)
        except S3Error as exc:
            if self._missing(exc):
                raise ObjectNotFound(f"{institution}:{key}") from None
            raise

    def get(self, institution, key, version_id=None):
        response = self._response(institution, key, version_id)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def open(self, institution, key):
        return io.BufferedReader(_ResponseReader(self._response(institution, key, None)), _CHUNK)

    def stat(self, institution, key):
        found = self._stat(self.bucket(institution), _check_key(key))
        if found is None:
            raise ObjectNotFound(f"{institution}:{key}")
        # Header case differs between servers; compare lowercased.
        meta = {k.lower(): v for k, v in (found.metadata or {}).items()}
        filename = meta.get("x-amz-meta-filename")
        return ObjectInfo(
            key=key, size=found.size, sha256=meta.get("x-amz-meta-sha256"), version_id=found.version_id,
            filename=unquote(filename) if filename is not None else None,
            content_type=found.content_type or DEFAULT_CONTENT_TYPE,
        )

    def exists(self, institution, key):
        return self._stat(self.bucket(institution), _check_key(key)) is not None

    def list(self, institution, prefix=""):
        from minio.error import S3Error

        try:
            objects = self.client.list_objects(self.bucket(institution), prefix=prefix or None, recursive=True)
            return sorted(o.object_name for o in objects if not o.is_dir)
        except S3Error as exc:
            if self._missing(exc):
                return []
            raise

    def delete_institution(self, institution):
        from minio.deleteobjects import DeleteObject

        name = self.bucket(institution)
        with self._ready_lock:
            self._ready.discard(name)
        if not self.client.bucket_exists(name):
            return
        # A versioned bucket is only empty once every version and delete marker is gone.
        # The listing is read in full first: deleting while paging could skip entries.
        doomed = [
            DeleteObject(o.object_name, o.version_id)
            for o in self.client.list_objects(name, recursive=True, include_version=True)
        ]
        errors = list(self.client.remove_objects(name, doomed))
        if errors:
            raise RuntimeError(f"could not empty bucket {name}: {errors[:3]}")
        self.client.remove_bucket(name)


# --- configuration -----------------------------------------------------------------


def _flag(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r}: expected true or false")


def store_from_env(environ: Mapping[str, str] | None = None) -> ObjectStore:
    """The configured store: ``MARSAD_STORAGE=local`` (default) or ``s3`` (services.config.StorageEnv)."""
    env = section(StorageEnv, environ)
    kind = env.storage.strip().lower()
    if kind == "local":
        # Beside the other embedded defaults (MARSAD_VAR_DIR) unless given its own folder.
        return LocalStore(env.storage_dir or section(Settings, environ).var_dir / "objects")
    if kind == "s3":
        required = {"MARSAD_S3_ENDPOINT": env.s3_endpoint, "MARSAD_S3_ACCESS_KEY": env.s3_access_key,
                    "MARSAD_S3_SECRET_KEY": env.s3_secret_key}
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ValueError(f"MARSAD_STORAGE=s3 needs {', '.join(missing)}")
        return S3Store(
            env.s3_endpoint, env.s3_access_key, env.s3_secret_key,
            # TLS unless explicitly turned off: credentials must not cross a network in clear.
            secure=_flag(env.s3_secure, "MARSAD_S3_SECURE"),
            bucket_prefix=env.s3_bucket_prefix,
            region=env.s3_region,
        )
    raise ValueError(f"MARSAD_STORAGE={kind!r}: expected 'local' or 's3'")
