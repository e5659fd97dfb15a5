"""Request and response bodies of the items API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class ItemV1(BaseModel):
    id: int
    name: str
    description: str | None


class ItemV2(ItemV1):
    created_at: str
    """When the item was stored (ISO 8601, UTC); new in v2."""


class Me(BaseModel):
    subject: str
    token: str
    """Which accepted token matched: ``current`` or ``previous`` (during a rotation)."""
