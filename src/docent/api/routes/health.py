from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from docent.api.deps import ReadinessDep
from docent.observability.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Needs no credentials."""
    return {"status": "ok"}


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="Each check (database, queue) and `ok` or what failed")


@router.get(
    "/readyz",
    summary="The process can serve: database reachable and migrated",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready: `checks` says what failed."}},
)
def readyz(checks: ReadinessDep) -> Any:
    """Readiness: the database is reachable and migrated, and the job queue answers. 503
    with the failed checks otherwise. Needs no credentials."""
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "The Prometheus text format.", "content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    """Request counts and latencies in the Prometheus text format. Needs no credentials: keep
    it off the public network."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
