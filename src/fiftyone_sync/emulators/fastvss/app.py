"""The Fast-VSS emulator's HTTP app: Fast-VSS's embed routes plus an admin route for faults.

It answers like Fast-VSS 0.15 (reference/fastvss.md): errors come back with HTTP 200 and a
body ``{"error": ...}``; a finished job answers ``{"status": "done", "result": R}``, where R
is ``{"filenames": [...], "embeddings": [[...], ...]}`` or, for a task that raised, a string.
``/_emulator/...`` routes are the emulator's own: they read and change its knobs.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from fiftyone_sync.emulators.fastvss.features import NotAnImage, image_vector
from fiftyone_sync.emulators.fastvss.state import VERSION, EmulatorState, Job, Knobs


class LenientJSONResponse(JSONResponse):
    """Writes NaN as Python's ``json`` does (``NaN``), as Fast-VSS's own answers would."""

    def render(self, content: Any) -> bytes:
        """Serialises ``content`` allowing NaN and infinities."""
        return json.dumps(content, allow_nan=True).encode()


def _error(message: str) -> LenientJSONResponse:
    """A Fast-VSS error: HTTP 200 with an ``error`` key."""
    return LenientJSONResponse({"error": message})


def _embed_all(contents: list[bytes], filenames: list[str]) -> dict | str:
    """The job's result: vectors in upload order, or the error text when a file is no image."""
    try:
        vectors = [image_vector(data) for data in contents]
    except NotAnImage as exc:
        return f"Error embedding images: {exc}"
    return {"filenames": filenames, "embeddings": vectors}


def _faulty_result(job: Job, knobs: Knobs) -> dict | str:
    """The job's result after the knobs that corrupt results have been applied."""
    if knobs.string_result is not None:
        return knobs.string_result
    if isinstance(job.result, str):
        return job.result

    pairs = list(zip(job.result["filenames"], job.result["embeddings"], strict=False))
    if knobs.missing_vectors:
        pairs = pairs[: max(0, len(pairs) - knobs.missing_vectors)]

    names = [name for name, _ in pairs]
    vectors = [list(vector) for _, vector in pairs]
    for index in range(min(knobs.nan_vectors, len(vectors))):
        vectors[index][0] = math.nan
    for index in range(min(knobs.short_vectors, len(vectors))):
        vectors[index] = vectors[index][:-1]
    for index in range(min(knobs.zero_vectors, len(vectors))):
        vectors[index] = [0.0] * len(vectors[index])

    if knobs.shuffle:
        names.reverse()
        vectors.reverse()
    return {"filenames": names, "embeddings": vectors}


router = APIRouter()


def _state(request: Request) -> EmulatorState:
    """The emulator state the app serves."""
    return request.app.state.emulator


async def _pause(state: EmulatorState, route: str, hang: float) -> None:
    """Counts the call, then sleeps for the latency plus ``hang`` (silence before answering)."""
    state.calls[route] += 1
    delay = state.knobs.latency + hang
    if delay:
        await asyncio.sleep(delay)


async def _submit(
    state: EmulatorState, route: str, project: str, files: list[UploadFile]
) -> LenientJSONResponse:
    """Both embed paths: check the call, compute the vectors, record the job."""
    await _pause(state, route, state.knobs.submit_hang)
    if state.knobs.submit_error is not None:
        return _error(state.knobs.submit_error)
    if project not in state.projects:
        return _error(f"Invalid project name {project}")
    if len(files) > state.batch_size:
        return _error(f"Images should be less than batch size {state.batch_size}")

    contents = [await upload.read() for upload in files]
    filenames = [upload.filename or "" for upload in files]
    result = await run_in_threadpool(_embed_all, contents, filenames)
    job_id = state.add_job(project, result)
    return LenientJSONResponse(
        {"job_id": job_id, "Comment": f"Embedding {len(files)} images in {project}"})


@router.get("/")
async def root(request: Request) -> dict:
    """Fast-VSS's welcome message."""
    await _pause(_state(request), "root", 0.0)
    return {"message": f"Welcome to Fast-VSS API version {VERSION}"}


@router.get("/health")
async def health(request: Request) -> dict:
    """Alive, with the version."""
    await _pause(_state(request), "health", 0.0)
    return {"status": "ok", "version": VERSION}


@router.get("/projects")
async def projects(request: Request) -> dict:
    """The project names embed calls accept."""
    state = _state(request)
    await _pause(state, "projects", 0.0)
    return {"projects": list(state.projects)}


@router.post("/embed/{project}")
async def embed(
    request: Request, project: str, files: Annotated[list[UploadFile], File()]
) -> LenientJSONResponse:
    """The current embed path (404 with the ``old_paths_only`` knob)."""
    state = _state(request)
    if state.knobs.old_paths_only:
        state.calls["embed"] += 1
        raise HTTPException(404, "Not Found")
    return await _submit(state, "embed", project, files)


@router.post("/embeddings/{project}/")
async def embeddings(
    request: Request, project: str, files: Annotated[list[UploadFile], File()]
) -> LenientJSONResponse:
    """The older embed path, same body and answer."""
    return await _submit(_state(request), "embeddings", project, files)


@router.get("/predict/job/{job_id}/{project}")
async def predict(request: Request, job_id: str, project: str) -> LenientJSONResponse:
    """A job's status, and its result once done."""
    state = _state(request)
    await _pause(state, "predict", state.knobs.poll_hang)
    if state.knobs.poll_error is not None:
        return _error(state.knobs.poll_error)

    job = state.find_job(job_id, project)
    if job is None:
        return _error(f"Job ID {job_id} does not exist in project {project}")
    if time.monotonic() < job.ready_at:
        return LenientJSONResponse({"status": "pending"})
    if job.failed:
        return LenientJSONResponse({"status": "failed"})
    return LenientJSONResponse({"status": "done", "result": _faulty_result(job, state.knobs)})


@router.get("/_emulator/faults")
async def read_knobs(request: Request) -> Knobs:
    """The knobs in force."""
    return _state(request).knobs


@router.post("/_emulator/faults")
async def change_knobs(request: Request, changes: dict[str, Any]) -> Knobs:
    """Changes some knobs; 422 for an unknown knob or a bad value."""
    try:
        return _state(request).set(**changes)
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False)) from None


@router.post("/_emulator/reset")
async def reset(request: Request) -> dict:
    """Default knobs, no jobs, counters at zero."""
    _state(request).reset()
    return {"reset": True}


def create_emulator_app(state: EmulatorState) -> FastAPI:
    """The emulator app serving ``state``.

    Args:
        state: projects, jobs and knobs; tests keep a reference to change knobs directly.

    Returns:
        A FastAPI app; serve it with uvicorn (see :mod:`fiftyone_sync.emulators.fastvss.server`).
    """
    app = FastAPI(title="Fast-VSS emulator", version=VERSION)
    app.state.emulator = state
    app.include_router(router)
    return app
