"""The object-store contract, run against both adapters: a folder and a real SeaweedFS."""

from __future__ import annotations

import hashlib
import io
import random
import re
import tracemalloc

import pytest

from services.storage import (
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    bucket_name,
    raw_key,
    store_from_env,
)

MiB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def store(request) -> ObjectStore:
    return request.getfixturevalue(f"{request.param}_store")


class GeneratedFile(io.RawIOBase):
    """``size`` pseudo-random bytes made on demand: a big upload that never sits in memory."""

    def __init__(self, size: int, seed: int = 7):
        self.remaining = size
        self.random = random.Random(seed)
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining)
        chunk = self.random.randbytes(n)
        self.digest.update(chunk)
        buffer[:n] = chunk
        self.remaining -= n
        return n


def test_both_adapters_satisfy_the_protocol(store):
    assert isinstance(store, ObjectStore)


def test_put_raw_is_content_addressed(store):
    data = "date;poste\n01/02/2024;رأس جدير\n".encode()
    sha = hashlib.sha256(data).hexdigest()

    first = store.put_raw("ins", data, filename="عبور-2024.csv", content_type="text/csv")

    assert first.key == raw_key(sha) == f"raw/{sha[:2]}/{sha}"
    assert (first.size, first.sha256, first.created) == (len(data), sha, True)
    assert store.get("ins", first.key) == data
    info = store.stat("ins", first.key)
    assert (info.filename, info.content_type, info.sha256, info.size) == ("عبور-2024.csv", "text/csv", sha, len(data))


def test_put_raw_twice_stores_once(store):
    data = b"id,count\n1,2\n"
    first = store.put_raw("ins", data, filename="a.csv")
    again = store.put_raw("ins", io.BytesIO(data), filename="renamed.csv")

    assert again.created is False
    assert (again.key, again.sha256, again.version_id) == (first.key, first.sha256, first.version_id)
    assert store.list("ins") == [first.key]
    assert store.stat("ins", first.key).filename == "a.csv"  # the archived original is untouched


def test_put_raw_streams_a_big_file_object(store):
    size = 50 * MiB
    source = GeneratedFile(size)

    tracemalloc.start()
    try:
        stored = store.put_raw("ins", io.BufferedReader(source, MiB), filename="big.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    expected = source.digest.hexdigest()
    assert (stored.sha256, stored.size, stored.key) == (expected, size, raw_key(expected))
    # Bounded by the spool threshold and one multipart part, never the whole file.
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB while storing {size / MiB:.0f} MiB"

    read_back = hashlib.sha256()
    with store.open("ins", stored.key) as fh:
        while chunk := fh.read(MiB):
            read_back.update(chunk)
    assert read_back.hexdigest() == expected


def test_put_keeps_previous_versions(store):
    one = store.put("ins", "reports/2024/q1.csv", b"version one", content_type="text/csv")
    two = store.put("ins", "reports/2024/q1.csv", b"version two")

    assert one.created and two.created
    assert one.version_id and two.version_id and one.version_id != two.version_id
    assert store.get("ins", "reports/2024/q1.csv") == b"version two"
    assert store.get("ins", "reports/2024/q1.csv", version_id=one.version_id) == b"version one"
    assert store.get("ins", "reports/2024/q1.csv", version_id=two.version_id) == b"version two"
    assert store.list("ins", "reports/") == ["reports/2024/q1.csv"]
    assert store.stat("ins", "reports/2024/q1.csv").version_id == two.version_id


def test_s3_buckets_are_versioned(s3, s3_store):
    s3_store.put("ins", "exports/x.csv", b"1")
    s3_store.put("ins", "exports/x.csv", b"2")

    client = s3.client()
    bucket = s3_store.bucket("ins")
    assert client.get_bucket_versioning(bucket).status == "Enabled"
    versions = list(client.list_objects(bucket, prefix="exports/", recursive=True, include_version=True))
    assert len(versions) == 2


def test_institutions_are_isolated(store):
    stored = store.put_raw("interior", b"secret rows", filename="permits.csv")
    store.put("interior", "exports/permits.csv", b"x")

    assert store.list("ins") == []
    assert not store.exists("ins", stored.key)
    with pytest.raises(ObjectNotFound):
        store.get("ins", stored.key)
    with pytest.raises(ObjectNotFound):
        store.open("ins", stored.key)
    assert store.exists("interior", stored.key)
    assert store.list("interior") == sorted([stored.key, "exports/permits.csv"])
    assert store.list("interior", "exports/") == ["exports/permits.csv"]


def test_missing_objects(store):
    store.put("ins", "a.txt", b"a")
    assert not store.exists("ins", "b.txt")
    for call in (lambda: store.get("ins", "b.txt"), lambda: store.stat("ins", "b.txt"),
                 lambda: store.get("ins", "a.txt", version_id="00000000000000000000-deadbeef")):
        with pytest.raises(ObjectNotFound):
            call()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", ".versions/x", "a//b", "dir/", "a\\b"])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put("ins", key, b"x")


def test_delete_institution_removes_everything(store):
    raw = store.put_raw("sandbox-7", b"trainee upload", filename="t.csv")
    store.put("sandbox-7", "reports/r.csv", b"1")
    store.put("sandbox-7", "reports/r.csv", b"2")
    kept = store.put_raw("ins", b"trainee upload", filename="t.csv")

    store.delete_institution("sandbox-7")

    assert store.list("sandbox-7") == []
    assert not store.exists("sandbox-7", raw.key)
    assert store.get("ins", kept.key) == b"trainee upload"
    store.delete_institution("sandbox-7")  # nothing left: still fine
    store.delete_institution("never-used")


def test_s3_delete_institution_drops_bucket_and_versions(s3, s3_store):
    s3_store.put("sandbox-7", "reports/r.csv", b"1")
    s3_store.put("sandbox-7", "reports/r.csv", b"2")
    s3_store.delete_institution("sandbox-7")
    assert not s3.client().bucket_exists(s3_store.bucket("sandbox-7"))
    # Written again afterwards: the bucket comes back, versioned, with no old versions.
    s3_store.put("sandbox-7", "reports/r.csv", b"3")
    assert s3.client().get_bucket_versioning(s3_store.bucket("sandbox-7")).status == "Enabled"
    assert len(list(s3.client().list_objects(s3_store.bucket("sandbox-7"), recursive=True, include_version=True))) == 1


def test_local_version_ids_cannot_reach_bookkeeping(local_store):
    one = local_store.put("ins", "r.csv", b"1")
    local_store.put("ins", "r.csv", b"2")
    for forged in (f"{one.version_id}.json", "../../.meta/r.csv.json", "latest"):
        with pytest.raises(ObjectNotFound):
            local_store.get("ins", "r.csv", version_id=forged)


def test_local_delete_institution_removes_folder(local_store):
    local_store.put("sandbox-7", "r.csv", b"1")
    local_store.put("sandbox-7", "r.csv", b"2")
    local_store.delete_institution("sandbox-7")
    assert list(local_store.root.iterdir()) == []


# --- names -------------------------------------------------------------------------

S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
CODES = ["INS", "ins", "interior", "social_affairs", "social-affairs", "aneti", "x", "Social Affairs", "a" * 80]


@pytest.mark.parametrize("code", CODES)
def test_bucket_names_are_valid_s3_names(code):
    name = bucket_name("marsad", code)
    assert S3_BUCKET.fullmatch(name), name
    assert not name.startswith("xn--")


def test_bucket_names_keep_institutions_apart():
    assert bucket_name("marsad", "INS") == bucket_name("marsad", "ins") == "marsad-ins"
    names = {bucket_name("marsad", code) for code in ["social_affairs", "social-affairs", "a" * 80, "a" * 81]}
    assert len(names) == 4


@pytest.mark.parametrize("code", ["", "  ", "Ministère", "ins/../onm", "وزارة"])
def test_unusable_institution_codes_are_refused(code):
    with pytest.raises(ValueError):
        bucket_name("marsad", code)


@pytest.mark.parametrize("prefix", ["", "Marsad", "marsad_", "-marsad", "m" * 40])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(ValueError):
        bucket_name(prefix, "ins")


def test_the_server_accepts_the_bucket_names(s3_store):
    for code in ["social_affairs", "a" * 80]:
        s3_store.put(code, "k", b"v")
        assert s3_store.get(code, "k") == b"v"


# --- configuration -----------------------------------------------------------------


def test_store_from_env_defaults_to_a_local_folder(tmp_path):
    assert store_from_env({}).root.as_posix() == "var/objects"
    assert store_from_env({"MARSAD_VAR_DIR": str(tmp_path)}).root == tmp_path / "objects"
    store = store_from_env({"MARSAD_STORAGE": "local", "MARSAD_STORAGE_DIR": str(tmp_path / "o")})
    assert isinstance(store, LocalStore) and store.root == tmp_path / "o"


def test_store_from_env_s3(s3):
    env = {"MARSAD_STORAGE": "s3", "MARSAD_S3_ENDPOINT": s3.endpoint,
           "MARSAD_S3_ACCESS_KEY": s3.access_key, "MARSAD_S3_SECRET_KEY": s3.secret_key}
    assert store_from_env(env).secure is True  # TLS unless turned off
    store = store_from_env({**env, "MARSAD_S3_SECURE": "false", "MARSAD_S3_BUCKET_PREFIX": "envtest"})
    assert isinstance(store, S3Store) and store.secure is False
    try:
        stored = store.put_raw("ins", b"x", filename="x")
        assert store.get("ins", stored.key) == b"x"
        assert s3.client().bucket_exists("envtest-ins")
    finally:
        s3.remove_buckets("envtest-")


@pytest.mark.parametrize("env", [
    {"MARSAD_STORAGE": "s3", "MARSAD_S3_ENDPOINT": "s3.example:443"},
    {"MARSAD_STORAGE": "s3", "MARSAD_S3_ENDPOINT": "h:1", "MARSAD_S3_ACCESS_KEY": "a",
     "MARSAD_S3_SECRET_KEY": "b", "MARSAD_S3_SECURE": "maybe"},
    {"MARSAD_STORAGE": "ftp"},
])
def test_store_from_env_refuses_incomplete_settings(env):
    with pytest.raises(ValueError):
        store_from_env(env)


def test_s3_endpoint_may_be_a_url():
    assert S3Store("https://s3.example:8443", "a", "b").secure is True
    assert S3Store("http://127.0.0.1:8333", "a", "b", secure=True).secure is False
