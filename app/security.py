"""Bearer-token check for protected routes. Accepts the current token and, during a rotation,
the previous one; compares in constant time and never logs a token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.runtime import RuntimeDep

_bearer = HTTPBearer(auto_error=False)


def match_token(presented: str, accepted: dict[str, str]) -> str | None:
    """The role (``current``/``previous``) of the accepted token equal to ``presented``, if any."""
    matched = None
    candidate = presented.encode()
    for role, token in accepted.items():
        # Compare against every token so the time taken does not tell which one matched.
        if hmac.compare_digest(candidate, token.encode()) and matched is None:
            matched = role
    return matched


def require_token(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Dependency: the matched token role, or 401 with a ``WWW-Authenticate: Bearer`` header."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        role = match_token(credentials.credentials, runtime.settings.accepted_tokens())
        if role is not None:
            return role
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="invalid or missing bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )


TokenRole = Annotated[str, Depends(require_token)]
