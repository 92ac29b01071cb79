"""The REST API under `/api` (OpenAPI at `/docs`). Clients send `Authorization: Bearer <token>`
(`sparklio studio token create NAME`); the Studio's own pages use their session cookie and CSRF header."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sparklio_pipelines.content.brief.schema import MAX_BRIEF_BYTES
from sparklio_pipelines.defs.links import media_path
from sparklio_pipelines.studio.auth import Principal, current_principal
from sparklio_pipelines.studio.errors import StudioError
from sparklio_pipelines.studio.service import CAMPAIGN_ASSETS, Studio

router = APIRouter(prefix="/api", tags=["campaigns"], dependencies=[Depends(current_principal)])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
BRIEF_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "A brief, as in examples/briefs/"}},
    "application/yaml": {"schema": {"type": "string", "description": "A brief in YAML"}}}}}


def studio_of(request: Request) -> Studio:
    return request.app.state.studio


def media_url_for(request: Request):
    """Browser URLs of stored objects: absolute on SPARKLIO_STUDIO_URL when set."""
    base = request.app.state.public_url
    return lambda key: base + media_path(key)


class CampaignCreated(BaseModel):
    campaign_id: str
    run_id: str
    partition_added: bool
    review_url: str


class RunRequest(BaseModel):
    assets: list[str] | None = Field(default=None, description=f"A subset of {list(CAMPAIGN_ASSETS)}; all when empty")
    fresh_copy: bool = Field(default=False, description="New A/B variants (a new copy seed)")
    copy_channels: list[str] | None = Field(
        default=None, description="Write only these channels' copy anew (with fresh_copy); the others keep theirs",
    )


class RunStarted(BaseModel):
    campaign_id: str
    run_id: str


class RevisionRequest(BaseModel):
    fields: dict[str, str | list[str]] = Field(description="The fields to change, e.g. {\"text\": \"...\"} for X")


class RejectRequest(BaseModel):
    reason: str = Field(max_length=500)


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StudioError([("(body)", f"a brief may be at most {MAX_BRIEF_BYTES:,} bytes")], 413)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/campaigns", status_code=201, response_model=CampaignCreated, openapi_extra=BRIEF_BODY,
             summary="Store a brief (JSON, or YAML with Content-Type: application/yaml) and start its campaign",
             responses={422: {"description": '{"errors": [{"field", "message"}]}: every bad field'}})
async def create_campaign(request: Request):
    studio = studio_of(request)
    raw = await _body(request, MAX_BRIEF_BYTES)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", *YAML_TYPES):
        raise StudioError([("(body)", "send the brief as application/json or application/yaml")], 415)
    brief = await run_in_threadpool(studio.parse_brief, raw, content_type)
    run_id, added = await run_in_threadpool(studio.create_campaign, brief)
    base = request.app.state.public_url
    return JSONResponse(CampaignCreated(campaign_id=brief.campaign_id, run_id=run_id, partition_added=added,
                                        review_url=f"{base}/campaigns/{brief.campaign_id}").model_dump(),
                        status_code=201)


@router.get("/campaigns", summary="Every campaign with its status, finished assets and failed checks")
def list_campaigns(request: Request) -> dict:
    return {"campaigns": studio_of(request).campaigns()}


@router.get("/campaigns/{campaign_id}",
            summary="A campaign: status, each asset's state, check results, and outputs with URLs")
def get_campaign(campaign_id: str, request: Request) -> Response:
    body = studio_of(request).campaign_json(campaign_id, request.app.state.public_url)
    return Response(body, media_type="application/json")


@router.post("/campaigns/{campaign_id}/runs", status_code=201, response_model=RunStarted,
             summary="Re-run the campaign, optionally a subset of its assets")
def rerun(campaign_id: str, request: Request, body: RunRequest | None = None) -> RunStarted:
    body = body or RunRequest()
    run_id = studio_of(request).rerun(campaign_id, body.assets, body.fresh_copy, body.copy_channels)
    return RunStarted(campaign_id=campaign_id, run_id=run_id)


@router.post("/campaigns/{campaign_id}/uploads/{kind}", status_code=201,
             summary="Upload an input image (kind: logo, product_photo, style_reference); the brief then names the key")
async def upload(campaign_id: str, kind: str, request: Request, file: UploadFile = File(...)) -> dict:
    content = await file.read(15 * 1024 * 1024 + 1)
    key = await run_in_threadpool(studio_of(request).store_upload, campaign_id, kind, file.filename or "upload",
                                  content)
    return {"key": key}


@router.post("/campaigns/{campaign_id}/copy/{language}/{channel}/{variant}/approve", tags=["copy"],
             summary="Approve a variant into brand memory (its latest revision, if edited)")
def approve(campaign_id: str, language: str, channel: str, variant: str, request: Request) -> dict:
    text = studio_of(request).approve(campaign_id, language, channel, variant)
    return {"approved": True, "text": text}


@router.post("/campaigns/{campaign_id}/copy/{language}/{channel}/{variant}/reject", tags=["copy"],
             summary="Reject a variant, with a reason")
def reject(campaign_id: str, language: str, channel: str, variant: str, body: RejectRequest, request: Request,
           principal: Principal = Depends(current_principal)) -> dict:
    studio_of(request).reject(campaign_id, language, channel, variant, body.reason, principal.name)
    return {"rejected": True}


@router.post("/campaigns/{campaign_id}/copy/{language}/{channel}/{variant}/revisions", tags=["copy"],
             status_code=201, summary="Save an edit as a new revision; refused (422) when it breaks a limit or rule")
def revise(campaign_id: str, language: str, channel: str, variant: str, body: RevisionRequest, request: Request,
           principal: Principal = Depends(current_principal)) -> dict:
    return studio_of(request).save_revision(campaign_id, language, channel, variant, body.fields, principal.name)


@router.get("/search", tags=["brand memory"], summary="Search approved and generated copy, as `sparklio search` does")
def search(request: Request, q: str = "", brand: str | None = None, k: int = 10) -> dict:
    studio = studio_of(request)
    return {"query": q, "hits": studio.search(q, brand, media_url_for(request), k=max(1, min(k, 50)))}
