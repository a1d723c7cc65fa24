"""The local CA's certificate revocation list: ``GET /v1/ca/{profile}/crl`` (DER).

Public, like any CRL distribution point: relying parties (the third party's TLS server,
``openssl verify -crl_check``) fetch it without a token. Only a ``local`` CA profile has
one here; other CAs publish their own. Set ``crl_url`` in the profile to write this URL
into the certificates it issues.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ops.gateway.errors import error_responses
from ops.gateway.state import state_of
from workers.ca.local import LocalCa

__all__ = ["router"]

router = APIRouter(prefix="/v1/ca", tags=["ca"])


@router.get(
    "/{profile}/crl",
    summary="The CRL of a local CA profile (DER), for relying parties",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}, **error_responses(404, 422)},
)
async def crl(
    profile: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")],
    request: Request,
) -> Response:
    app = state_of(request).app
    adapter = app.deps.cas.get(profile) if profile in app.config.ca else None
    if not isinstance(adapter, LocalCa):
        body = {
            "error": "NotFound",
            "message": f"no local CA profile {profile!r}: only a local CA's CRL is served here",
            "hint": "other CAs publish their own CRL: see the certificate's CRL distribution"
            " points",
        }
        return JSONResponse(body, status_code=404)
    der = await run_in_threadpool(adapter.crl_der)
    return Response(
        der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "max-age=60", "Content-Disposition": "inline; filename=ca.crl"},
    )
