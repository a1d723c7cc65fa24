"""The Attachment API (servicenow-api.md 2): uploads, metadata, hash, listing, extensions."""

from __future__ import annotations

import hashlib
import os

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer
from ops.dev.sandbox.store import Refusal

from .conftest import Api

METADATA_FIELDS = {
    "average_image_color", "compressed", "content_type", "created_by_name", "download_link",
    "file_name", "image_height", "image_width", "size_bytes", "size_compressed",
    "sys_created_by", "sys_created_on", "sys_id", "sys_mod_count", "sys_tags",
    "sys_updated_by", "sys_updated_on", "table_name", "table_sys_id", "updated_by_name",
}  # fmt: skip
DATA = os.urandom(5000) + b"\r\n--not-a-boundary\r\n" + bytes(range(256))


@pytest.fixture
def record(api: Api) -> str:
    return str(api.insert("sys_certificate", {"name": "client", "active": "false"})["sys_id"])


def test_binary_upload(api: Api, record: str) -> None:
    response = api.attach("sys_certificate", record, "client.jks", DATA)
    assert response.status_code == 201
    meta = response.json()["result"]
    # as a real instance answers (servicenow-api.md 2.5): the documented fields, the hash,
    # and a state that reads "pending" right after the upload
    assert set(meta) == METADATA_FIELDS | {"hash", "state", "chunk_size_bytes"}
    assert meta["hash"] == hashlib.sha256(DATA).hexdigest()
    assert meta["state"] == "pending"
    assert all(isinstance(v, str) for v in meta.values())
    assert response.headers["Location"] == f"{api.srv.url}/api/now/attachment/{meta['sys_id']}"
    assert meta["download_link"] == f"{api.srv.url}/api/now/attachment/{meta['sys_id']}/file"
    assert meta["size_bytes"] == str(len(DATA))
    assert meta["compressed"] == "true"
    assert meta["content_type"] == "application/octet-stream"
    assert (meta["table_name"], meta["table_sys_id"], meta["file_name"]) == (
        "sys_certificate",
        record,
        "client.jks",
    )
    download = api.get(f"/api/now/attachment/{meta['sys_id']}/file", headers={"Accept": "*/*"})
    assert download.status_code == 200
    assert download.content == DATA
    assert download.headers["Content-Type"] == "application/octet-stream"


def test_hash_is_sha256_through_the_table_api(api: Api, record: str) -> None:
    sys_id = api.attach("sys_certificate", record, "client.jks", DATA).json()["result"]["sys_id"]
    row = api.get(
        f"/api/now/table/sys_attachment/{sys_id}",
        params={"sysparm_fields": "hash,size_bytes,file_name,content_type,table_sys_id"},
    ).json()["result"]
    assert row == {
        "hash": hashlib.sha256(DATA).hexdigest(),
        "size_bytes": str(len(DATA)),
        "file_name": "client.jks",
        "content_type": "application/octet-stream",
        "table_sys_id": record,
    }


def test_documented_shape_only_when_the_facts_say_so() -> None:
    with SandboxServer(SandboxFacts(attachment_api_includes_hash=False)) as srv:
        api = Api(srv, srv.username, srv.password)
        record = api.insert("sys_certificate", {"name": "c", "active": "false"})["sys_id"]
        meta = api.attach("sys_certificate", record, "a.jks", b"abc").json()["result"]
        assert set(meta) == METADATA_FIELDS


def test_multipart_upload(api: Api, record: str) -> None:
    response = api.post(
        "/api/now/attachment/upload",
        data={"table_name": "sys_certificate", "table_sys_id": record},
        files={"uploadFile": ("client.jks", DATA, "application/x-java-keystore")},
    )
    assert response.status_code == 201, response.text
    meta = response.json()["result"]
    assert meta["file_name"] == "client.jks"
    assert meta["content_type"] == "application/x-java-keystore"
    stored = api.get(f"/api/now/attachment/{meta['sys_id']}/file", headers={"Accept": "*/*"})
    assert stored.content == DATA


def test_multipart_needs_the_fields_before_the_file(api: Api, record: str) -> None:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="uploadFile"; filename="a.jks"\r\n'
        "Content-Type: application/octet-stream\r\n\r\nabc\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="table_name"\r\n\r\n'
        f"sys_certificate\r\n--{boundary}--\r\n"
    ).encode()
    response = api.post(
        "/api/now/attachment/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400


def test_upload_errors(api: Api, record: str) -> None:
    no_name = api.post(
        "/api/now/attachment/file",
        params={"table_name": "sys_certificate", "table_sys_id": record},
        data=b"x",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert no_name.status_code == 400
    assert no_name.json()["status"] == "failure"
    no_type = api.post(
        "/api/now/attachment/file",
        params={"table_name": "sys_certificate", "table_sys_id": record, "file_name": "a.jks"},
    )
    assert no_type.status_code == 400
    missing = api.attach("sys_certificate", "0" * 32, "a.jks", b"x")
    assert missing.status_code == 404
    assert missing.json()["status"] == "failure"


def test_extension_allow_list(api: Api, srv: SandboxServer, record: str) -> None:
    srv.set_property("glide.attachment.extensions", "pdf, png")
    refused = api.attach("sys_certificate", record, "client.jks", b"x")
    assert refused.status_code == 400
    assert "jks" in refused.json()["error"]["message"]
    assert api.attach("sys_certificate", record, "doc.PDF", b"x").status_code == 201
    srv.set_property("glide.attachment.extensions", "pdf,jks")
    # a listed extension is MIME-checked (on by default), and a keystore matches no type
    mime = api.attach("sys_certificate", record, "client.jks", b"x")
    assert mime.status_code == 400
    assert mime.json()["error"]["message"] == (
        "client.jks File type not permitted or mime type does not match the file content"
    )
    srv.set_property("glide.security.file.mime_type.validation", "false")
    assert api.attach("sys_certificate", record, "client.jks", b"x").status_code == 201


def test_attachment_role_limits_who_may_attach(api: Api, srv: SandboxServer, record: str) -> None:
    from ops.dev.sandbox.attachment_api import AttachmentApi

    del api, record
    gate = AttachmentApi(srv.store, str, lambda: srv.url)
    srv.set_property("glide.attachment.role", "itil")
    with pytest.raises(Refusal) as refused:
        gate._check_role(frozenset({"web_service_admin"}))
    assert refused.value.status == 403
    gate._check_role(frozenset({"itil"}))
    gate._check_role(frozenset({"admin"}))  # admin passes every role check


def test_listing_metadata_and_delete(api: Api, record: str) -> None:
    ids = [
        api.attach("sys_certificate", record, f"f{i}.jks", bytes([i])).json()["result"]["sys_id"]
        for i in range(3)
    ]
    query = f"table_name=sys_certificate^table_sys_id={record}^ORDERBYfile_name"
    listing = api.get("/api/now/attachment", params={"sysparm_query": query, "sysparm_limit": 2})
    assert listing.status_code == 200
    assert listing.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in listing.headers["Link"]
    assert [m["file_name"] for m in listing.json()["result"]] == ["f0.jks", "f1.jks"]
    one = api.get(f"/api/now/attachment/{ids[1]}")
    assert one.json()["result"]["file_name"] == "f1.jks"
    assert api.delete(f"/api/now/attachment/{ids[1]}").status_code == 204
    assert api.get(f"/api/now/attachment/{ids[1]}").status_code == 404
    assert api.get(f"/api/now/attachment/{ids[1]}/file").status_code == 404
    assert api.delete(f"/api/now/attachment/{ids[1]}").status_code == 404
    empty = api.get("/api/now/attachment", params={"sysparm_query": "table_sys_id=nothing"})
    assert empty.status_code == 200 and empty.json() == {"result": []}


def test_deleting_the_record_deletes_its_attachments(
    api: Api, srv: SandboxServer, record: str
) -> None:
    api.attach("sys_certificate", record, "a.jks", b"x")
    assert api.delete(f"/api/now/table/sys_certificate/{record}").status_code == 204
    assert srv.dump()["sys_attachment"] == []


def test_readonly_user_cannot_attach(readonly: Api, record: str) -> None:
    response = readonly.attach("sys_certificate", record, "a.jks", b"x")
    assert response.status_code == 403
