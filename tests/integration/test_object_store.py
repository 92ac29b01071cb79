"""Tier 3: the object store interface on both backends (local dir and SeaweedFS S3)."""

import hashlib

import pytest

from resources.object_store import TEMP_PREFIX, ObjectStoreError
from sparklio_common.keys import UnsafeKeyError


def test_put_get_exists_head(any_store):
    stored = any_store.put_bytes("campaigns/c1/copy/en.json", b'{"a": 1}')
    assert not stored.cached and stored.size == 8
    assert stored.sha256 == hashlib.sha256(b'{"a": 1}').hexdigest()
    assert stored.media_type == "application/json"
    assert any_store.get_bytes("campaigns/c1/copy/en.json") == b'{"a": 1}'
    assert any_store.exists("campaigns/c1/copy/en.json")
    assert not any_store.exists("campaigns/c1/copy/ko.json")
    info = any_store.head("campaigns/c1/copy/en.json")
    assert info.size == 8 and info.sha256 == stored.sha256


def test_same_content_same_key_is_cached_not_duplicated(any_store):
    first = any_store.put_bytes("campaigns/c1/a.txt", b"hello")
    second = any_store.put_bytes("campaigns/c1/a.txt", b"hello")
    third = any_store.put_bytes("campaigns/c1/a.txt", b"hello, world")
    assert not first.cached and second.cached and not third.cached
    assert [o.key for o in any_store.list("campaigns/c1/")] == ["campaigns/c1/a.txt"]
    assert any_store.get_bytes("campaigns/c1/a.txt") == b"hello, world"


def test_no_temp_keys_left_and_none_listed(any_store):
    for i in range(5):
        any_store.put_bytes(f"campaigns/c2/{i}.bin", bytes([i]) * 10)
    assert all(not o.key.startswith(TEMP_PREFIX) for o in any_store.list(""))
    assert any_store.sweep_temp(older_than_s=0) == 0


def test_list_is_ordered_and_resumes_after_a_cursor(any_store):
    names = ["briefs/b.yaml", "briefs/a.yaml", "briefs/봄 캠페인.yaml", "briefs/c d.json", "other/x"]
    for name in names:
        any_store.put_bytes(name, name.encode())
    keys = [o.key for o in any_store.list("briefs/")]
    assert keys == sorted(k for k in names if k.startswith("briefs/"))
    after = [o.key for o in any_store.list("briefs/", start_after="briefs/b.yaml")]
    assert after == [k for k in keys if k > "briefs/b.yaml"]
    assert [o.key for o in any_store.list("briefs/", limit=2)] == keys[:2]


def test_put_file_download_move_delete_url(any_store, tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00" * 4096)
    stored = any_store.put_file("campaigns/c3/video/clip.mp4", src)
    assert stored.media_type == "video/mp4" and stored.size == 4096
    assert any_store.put_file("campaigns/c3/video/clip.mp4", src).cached
    out = any_store.download("campaigns/c3/video/clip.mp4", tmp_path / "dl" / "clip.mp4")
    assert out.read_bytes() == src.read_bytes()
    any_store.move("campaigns/c3/video/clip.mp4", "campaigns/c3/moved.mp4")
    assert not any_store.exists("campaigns/c3/video/clip.mp4") and any_store.exists("campaigns/c3/moved.mp4")
    assert any_store.url("campaigns/c3/moved.mp4").split("?")[0].endswith("campaigns/c3/moved.mp4")
    any_store.delete("campaigns/c3/moved.mp4")
    assert not any_store.exists("campaigns/c3/moved.mp4")
    with pytest.raises(ObjectStoreError):
        any_store.get_bytes("campaigns/c3/moved.mp4")


@pytest.mark.parametrize("bad", ["../escape", "campaigns/../../x", "/etc/passwd"])
def test_traversal_keys_are_refused(any_store, bad):
    with pytest.raises(UnsafeKeyError):
        any_store.put_bytes(bad, b"x")


def test_s3_presigned_url_expires(s3_store):
    s3_store.put_bytes("campaigns/c4/a.txt", b"x")
    url = s3_store.url("campaigns/c4/a.txt", expires_s=120)
    assert "Expires=" in url or "X-Amz-Expires=120" in url
