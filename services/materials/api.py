"""Materials HTTP API under /v1."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
