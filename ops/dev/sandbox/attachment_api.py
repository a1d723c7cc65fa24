"""The Attachment API: ``/api/now[/v1]/attachment...`` (servicenow-api.md 2).

Uploads land in ``sys_attachment`` with ``hash`` = lower-case hex SHA-256 of the bytes
(2.5); the metadata answer lists the fields of 2.3, all strings, and, as a real instance
does (2.5), ``hash``, ``state`` ("pending" right after an upload) and ``chunk_size_bytes``
unless the facts ask for the documented shape only. ``glide.attachment.extensions``,
``glide.security.file.mime_type.validation`` and ``glide.attachment.role`` are honoured
(servicenow-api.md 10).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ops.dev.sandbox import multipart
from ops.dev.sandbox.access import Roles, can_read, has_role, require_write
from ops.dev.sandbox.paging import page
from ops.dev.sandbox.store import Refusal, SandboxStore
from ops.dev.sandbox.table_api import not_found
from ops.dev.sandbox.wire import Request, Response, ok

__all__ = ["AttachmentApi", "Upload"]

ATTACHMENT_LIMIT = 1000
MIME_VALIDATION = "glide.security.file.mime_type.validation"
ATTACHMENT_ROLE = "glide.attachment.role"
MIME_REFUSAL = "File type not permitted or mime type does not match the file content"
_NO_MIME_MATCH = frozenset({"jks", "p12", "pfx", "bcfks"})  # keystores: binary, no magic type
CHUNK_SIZE_BYTES = "700000"  # as recorded from a real instance (servicenow-api.md 2.5)
_TABLE = "sys_attachment"


@dataclass(frozen=True)
class Upload:
    table_name: str
    table_sys_id: str
    file_name: str
    content_type: str
    data: bytes


class AttachmentApi:
    """Handlers for uploading, listing, reading and deleting attachments."""

    def __init__(
        self, store: SandboxStore, full_name: Callable[[str], str], base_url: Callable[[], str]
    ) -> None:
        self.store = store
        self.full_name = full_name
        self.base_url = base_url

    def metadata(self, row: dict[str, str]) -> dict[str, str]:
        """The ``result`` object of 2.3, every value a string."""
        out = {
            "average_image_color": row["average_image_color"],
            "compressed": row["compressed"],
            "content_type": row["content_type"],
            "created_by_name": self.full_name(row["sys_created_by"]),
            "download_link": f"{self.base_url()}/api/now/attachment/{row['sys_id']}/file",
            "file_name": row["file_name"],
            "image_height": row["image_height"],
            "image_width": row["image_width"],
            "size_bytes": row["size_bytes"],
            "size_compressed": row["size_compressed"],
        }
        for key in (
            "sys_created_by",
            "sys_created_on",
            "sys_id",
            "sys_mod_count",
            "sys_tags",
            "sys_updated_by",
            "sys_updated_on",
            "table_name",
            "table_sys_id",
        ):
            out[key] = row[key]
        out["updated_by_name"] = self.full_name(row["sys_updated_by"])
        if self.store.facts.attachment_api_includes_hash:
            out["hash"] = row["hash"]
            out["state"] = row["state"]
            out["chunk_size_bytes"] = CHUNK_SIZE_BYTES
        return out

    def _check_extension(self, file_name: str) -> None:
        allowed = self.store.property("glide.attachment.extensions")
        extensions = {e.strip().lower().lstrip(".") for e in allowed.split(",") if e.strip()}
        extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
        if extensions and extension not in extensions:
            raise Refusal(
                400,
                f"File extension '{extension}' is not allowed",
                f"'{extension}' is not listed in glide.attachment.extensions",
            )

    def _check_mime(self, file_name: str) -> None:
        """``glide.security.file.mime_type.validation`` (default true) checks the files whose
        extension is listed; a keystore's content matches no MIME type of its extension."""
        validating = self.store.property(MIME_VALIDATION).strip().lower() != "false"
        allowed = self.store.property("glide.attachment.extensions")
        extensions = {e.strip().lower().lstrip(".") for e in allowed.split(",") if e.strip()}
        extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
        if validating and extension in extensions and extension in _NO_MIME_MATCH:
            # the status code is not documented (servicenow-api.md 10): 400 here
            raise Refusal(400, f"{file_name} {MIME_REFUSAL}", f"{MIME_VALIDATION} is true")

    def _check_role(self, roles: Roles) -> None:
        """``glide.attachment.role``: only the roles listed may attach (admin passes)."""
        listed = [r.strip() for r in self.store.property(ATTACHMENT_ROLE).split(",") if r.strip()]
        if not has_role(roles, listed):
            raise Refusal(403, "Operation Failed", f"{ATTACHMENT_ROLE} does not list your roles")

    def _create(self, upload: Upload, request: Request, roles: Roles) -> Response:
        if upload.table_name not in self.store.schema:
            raise Refusal(400, f"Invalid table {upload.table_name}", "")
        require_write(self.store, _TABLE, "create", roles)
        require_write(self.store, upload.table_name, "update", roles)
        if self.store.get(upload.table_name, upload.table_sys_id) is None:
            return not_found()
        self._check_role(roles)
        self._check_extension(upload.file_name)
        self._check_mime(upload.file_name)
        sys_id, data = uuid.uuid4().hex, upload.data
        values = {
            "sys_id": sys_id,
            "file_name": upload.file_name,
            "content_type": upload.content_type,
            "size_bytes": str(len(data)),
            "size_compressed": str(len(gzip.compress(data))),
            "compressed": "true",
            "table_name": upload.table_name,
            "table_sys_id": upload.table_sys_id,
            "hash": hashlib.sha256(data).hexdigest(),
            "state": self.store.facts.attachment_upload_state,
        }
        with self.store.lock:
            self.store.blobs[sys_id] = data
            try:
                row = self.store.insert(_TABLE, values, request.user)
            except Refusal:
                self.store.blobs.pop(sys_id, None)
                raise
        location = [("Location", f"{self.base_url()}/api/now/attachment/{sys_id}")]
        return ok(self.metadata(row), 201, location)

    def upload_file(self, request: Request, roles: Roles) -> Response:
        """``POST /attachment/file?table_name&table_sys_id&file_name`` with raw bytes."""
        missing = [
            p for p in ("table_name", "table_sys_id", "file_name") if not request.query.get(p)
        ]
        if missing:
            raise Refusal(
                400,
                "Missing required parameter: " + ", ".join(missing),
                "table_name, table_sys_id and file_name are required",
            )
        content_type = request.header("Content-Type")
        if not content_type:
            raise Refusal(400, "Content-Type header is required", "Send the file's MIME type")
        q = request.query
        upload = Upload(
            q["table_name"], q["table_sys_id"], q["file_name"], content_type, request.body
        )
        return self._create(upload, request, roles)

    def upload_multipart(self, request: Request, roles: Roles) -> Response:
        """``POST /attachment/upload``: fields first, the file part last (2.2)."""
        boundary = multipart.boundary_of(request.header("Content-Type") or "")
        if not boundary:
            raise Refusal(400, "Content-Type must be multipart/form-data with a boundary", "")
        try:
            parts = multipart.parse(request.body, boundary)
        except ValueError as exc:
            raise Refusal(400, "Failed to parse multipart body", str(exc)) from None
        fields: dict[str, str] = {}
        for part in parts:
            if part.filename is None:
                fields[part.name] = part.data.decode("utf-8", "replace")
                continue
            if not fields.get("table_name") or not fields.get("table_sys_id"):
                raise Refusal(
                    400,
                    "Missing required parameter: table_name, table_sys_id",
                    "Send table_name and table_sys_id before the file part",
                )
            upload = Upload(
                fields["table_name"],
                fields["table_sys_id"],
                part.filename,
                part.content_type,
                part.data,
            )
            return self._create(upload, request, roles)
        raise Refusal(400, "No file part in the request", "The file part must be the last part")

    def listing(self, request: Request, roles: Roles) -> Response:
        """``GET /attachment?sysparm_query=...`` over sys_attachment."""
        readable = can_read(self.store, _TABLE, roles)
        rows = self.store.select(_TABLE, request.query.get("sysparm_query", ""))
        window = page(request, len(rows), ATTACHMENT_LIMIT)
        shown = rows[window.offset : window.offset + window.limit] if readable else []
        return ok(
            [self.metadata(r) for r in shown], headers=window.headers(request, self.base_url())
        )

    def one(self, request: Request, sys_id: str, roles: Roles) -> Response:
        """``GET`` or ``DELETE /attachment/{sys_id}``."""
        row = self.store.get(_TABLE, sys_id)
        if row is None or not can_read(self.store, _TABLE, roles):
            return not_found()
        if request.method == "DELETE":
            require_write(self.store, _TABLE, "delete", roles)
            self.store.delete(_TABLE, sys_id, request.user)
            return Response(204)
        return ok(self.metadata(row))

    def content(self, sys_id: str, roles: Roles) -> Response:
        """``GET /attachment/{sys_id}/file``: the bytes, with the stored Content-Type."""
        row = self.store.get(_TABLE, sys_id)
        if row is None or not can_read(self.store, _TABLE, roles):
            return not_found()
        with self.store.lock:
            data = self.store.blobs.get(sys_id, b"")
        headers = [
            ("Content-Type", row["content_type"] or "application/octet-stream"),
            ("X-Attachment-Metadata", json.dumps(self.metadata(row), separators=(",", ":"))),
        ]
        return Response(200, data, headers)
