"""The marketer's pages: sign in, campaigns, new campaign (a form for every brief field), review, search.

Pages render on the server (Jinja2); the small script in static/studio.js polls run status and sends the
review page's approve / reject / edit / re-run buttons to the REST API with the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from sparklio_common.keys import campaign_key
from sparklio_pipelines.campaigns.briefs import MAX_PHOTO_BYTES
from sparklio_pipelines.content.brief.schema import CHANNELS, LANGUAGES, BriefError
from sparklio_pipelines.studio.api import media_url_for
from sparklio_pipelines.studio.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_HOURS,
    Principal,
    check_password,
    current_principal,
    start_session,
)
from sparklio_pipelines.studio.errors import StudioError
from sparklio_pipelines.studio.forms import brand_kit_names
from sparklio_pipelines.studio.media import media_response
from sparklio_pipelines.studio.service import (
    CAMPAIGN_ASSETS,
    UPLOAD_FIELDS,
    Studio,
)

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "sparklio_login_csrf"
TEXT_FIELDS = ("campaign_id", "product", "audience", "tone", "call_to_action", "start_date", "end_date")
# Where a problem with a brief field is shown on the form.
FORM_FIELD_OF = {
    "brand.logo_path": "logo", "product_photo": "product_photo", "brand.style_reference_path": "style_reference",
    "brand": "brand", "translations": "translations", "(brief)": "form", "(file)": "form",
}


def render(request: Request, template: str, status_code: int = 200, **context) -> Response:
    principal = getattr(request.state, "principal", None)
    context.setdefault("user", principal.name if principal else None)
    context.setdefault("csrf", principal.csrf_token if principal else "")
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


def _secure(request: Request) -> bool:
    return request.app.state.public_url.startswith("https://")


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


# --- sign in -------------------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return _login_form(request, next)


def _login_form(request: Request, next: str, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status_code, next=_safe_next(next), error=error, login_csrf=token,
                      user=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        max_age=3600)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    sent, expected = str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent, expected):
        return _login_form(request, target, "This sign-in form expired. Please try again.", 403)
    throttle, address = request.app.state.throttle, request.client.host if request.client else "-"
    wait = throttle.wait_seconds(username, address)
    if wait > 0:
        return _login_form(request, target, f"Too many failed sign-ins. Try again in {int(wait) + 1} s.", 429)
    studio: Studio = request.app.state.studio
    if not await run_in_threadpool(check_password, studio.studio_db, username, password):
        throttle.failed(username, address)
        return _login_form(request, target, "Wrong user name or password.", 401)
    throttle.succeeded(username, address)
    token = await run_in_threadpool(start_session, studio.studio_db, username)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request),
                        max_age=SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    studio.studio_db.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- campaigns -----------------------------------------------------------------------------------

@router.get("/")
def campaigns_page(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    return render(request, "campaigns.html", campaigns=studio.campaigns(), assets=CAMPAIGN_ASSETS)


def _blank_form() -> dict:
    today = dt.date.today()
    return {"languages": ["en"], "channels": ["instagram", "x", "shorts"], "start_date": str(today),
            "end_date": str(today + dt.timedelta(days=30)), "brand_kit": ""}


@router.get("/campaigns/new")
def new_campaign_page(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    return _form(request, _blank_form(), [])


def _form(request: Request, values: dict, problems: list[tuple[str, str]], status_code: int = 200) -> Response:
    by_field: dict[str, list[str]] = {}
    for field, message in problems:
        by_field.setdefault(form_field_of(field), []).append(f"{field}: {message}")
    return render(request, "new_campaign.html", status_code, values=values, errors=by_field,
                  languages=LANGUAGES, channels=CHANNELS, kits=brand_kit_names(),
                  max_upload_mb=MAX_PHOTO_BYTES // (1024 * 1024))


def form_field_of(field: str) -> str:
    """The form input a brief field's problem belongs to (`key_messages[2]` -> key_messages)."""
    base = field.split("[", 1)[0]
    if base in FORM_FIELD_OF:
        return FORM_FIELD_OF[base]
    head = base.split(".", 1)[0]
    return FORM_FIELD_OF.get(head, head)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def _words(text: str) -> list[str]:
    return [w.strip() for w in str(text or "").split(",") if w.strip()]


def brief_data_from_form(form) -> tuple[dict, dict]:
    """(brief mapping, the values to re-fill the form with). Empty fields are left out: 'is required'."""
    values = {name: str(form.get(name, "")).strip() for name in TEXT_FIELDS}
    values.update(key_messages=str(form.get("key_messages", "")), languages=form.getlist("languages"),
                  channels=form.getlist("channels"), brand_kit=str(form.get("brand_kit", "")))
    data: dict = {k: values[k] for k in TEXT_FIELDS if values[k]}
    if _lines(values["key_messages"]):
        data["key_messages"] = _lines(values["key_messages"])
    data["languages"], data["channels"] = values["languages"], values["channels"]
    brand_values = {k: str(form.get(k, "")).strip() for k in
                    ("brand_name", "brand_palette", "brand_voice_notes", "brand_banned_words", "brand_required_terms")}
    values.update(brand_values)
    if values["brand_kit"]:
        data["brand_kit"] = values["brand_kit"]
    else:
        brand = {"name": brand_values["brand_name"], "voice_notes": brand_values["brand_voice_notes"],
                 "banned_words": _words(brand_values["brand_banned_words"]),
                 "required_terms": _words(brand_values["brand_required_terms"])}
        if _words(brand_values["brand_palette"]):
            brand["palette"] = _words(brand_values["brand_palette"])
        data["brand"] = brand
    translations = {}
    for language in LANGUAGES:
        given = {f: str(form.get(f"tr_{language}_{f}", "")).strip() for f in ("product", "call_to_action")}
        messages = str(form.get(f"tr_{language}_key_messages", ""))
        values.update({f"tr_{language}_{f}": v for f, v in given.items()}, **{f"tr_{language}_key_messages": messages})
        entry = {f: v for f, v in given.items() if v}
        if _lines(messages):
            entry["key_messages"] = _lines(messages)
        if entry:
            translations[language] = entry
    if translations:
        data["translations"] = translations
    return data, values


@router.post("/campaigns/new")
async def create_campaign_from_form(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    form = await request.form()
    data, values = brief_data_from_form(form)
    uploads = {}
    for field in UPLOAD_FIELDS:
        upload = form.get(field)
        if isinstance(upload, UploadFile) and upload.filename:
            uploads[field] = (upload.filename, await upload.read(MAX_PHOTO_BYTES + 1))
    try:
        brief, files = await run_in_threadpool(studio.brief_from_form, data, uploads)
        await run_in_threadpool(studio.create_campaign, brief, files)
    except BriefError as exc:
        return _form(request, values, exc.problems, 422)
    except StudioError as exc:
        return _form(request, values, exc.problems, exc.status)
    return RedirectResponse(f"/campaigns/{brief.campaign_id}?created=1", status_code=303)


@router.get("/campaigns/{campaign_id}")
def review_page(campaign_id: str, request: Request, principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    try:
        campaign = studio.campaign(campaign_id, request.app.state.public_url)
    except StudioError as exc:
        return render(request, "message.html", exc.status, title="Not found", message=exc.problems[0][1])
    return render(request, "review.html", c=campaign, media=_media_by_language(campaign),
                  captions=_captions_text(studio, campaign), created=request.query_params.get("created") == "1")


def _media_by_language(campaign: dict) -> dict:
    """language -> creatives (size, url) and the clean / captioned video and caption track URLs."""
    media: dict = {language: {"creatives": []} for language in campaign["languages"]}
    for out in campaign["outputs"]:
        parts = out["key"].split("/")[2:]  # after campaigns/<id>/
        language = out.get("language") or (parts[1] if len(parts) > 2 else None)
        if language not in media:
            continue
        entry = media[language]
        if out["asset"] == "image" and parts[0] == "image" and parts[-1].endswith(".png"):
            entry["creatives"].append({"name": parts[-1].removesuffix(".png"), "url": out["url"]})
        elif out["key"].endswith("video/" + language + "/video.mp4"):
            entry["video"] = out["url"]
        elif out["key"].endswith("video-captioned.mp4"):
            entry["captioned"] = out["url"]
        elif out["key"].endswith("captions.vtt"):
            entry["vtt"] = out["url"]
    return media


def _captions_text(studio: Studio, campaign: dict) -> dict[str, list[str]]:
    from sparklio_pipelines.content.quality import parse_srt

    texts = {}
    for language in campaign["languages"]:
        key = campaign_key(campaign["campaign_id"], "captions", language, "captions.srt")
        if any(out["key"] == key for out in campaign["outputs"]):
            cues = parse_srt(studio.store.get_bytes(key).decode("utf-8", "replace"))
            texts[language] = [" ".join(cue.lines) for cue in cues]
    return texts


@router.get("/search")
def search_page(request: Request, q: str = "", brand: str = "", principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    hits, error = [], None
    if q.strip():
        try:
            hits = studio.search(q, brand or None, media_url_for(request))
        except StudioError as exc:
            error = exc.problems[0][1]
    return render(request, "search.html", q=q, brand=brand, hits=hits, error=error)


@router.get("/media/{campaign_id}/{path:path}")
def media(campaign_id: str, path: str, request: Request, download: bool = False,
          principal: Principal = Depends(current_principal)) -> Response:
    studio: Studio = request.app.state.studio
    return media_response(studio.store, campaign_id, path, request.headers.get("range"), download)
