"""Error-to-response mapping, kept in one place so every route answers the same way."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from domain.shared.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from domain.subscriptions.provider import ProviderDeclined, ProviderUnreachable
from gateway.responses import error_response
from integrations.stores.documents import StorageError

log = structlog.get_logger()

BEARER_CHALLENGE: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}

# Matched with isinstance, so subclasses (ConcurrencyConflict, SubscriptionNotYetKnown, a
# provider's ProviderRejected) inherit their parent's status without being listed. No class
# here derives from another one here.
_DOMAIN_STATUS: Mapping[type[DomainError], int] = {
    NotFound: 404,
    ValidationFailed: 422,
    InvalidTransition: 409,
    Conflict: 409,
    Unauthenticated: 401,
    # A payment provider declined the payment a request needs, or did not answer (nothing stored).
    ProviderDeclined: 402,
    ProviderUnreachable: 502,
}

_HTTP_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """A refusal decided by the gateway itself (bad header, oversized body, ...)."""

    def __init__(
        self, status_code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message
        self.headers = headers


def domain_status(error: DomainError) -> int:
    for cls, status in _DOMAIN_STATUS.items():
        if isinstance(error, cls):
            return status
    # A DomainError nobody mapped is still the caller's problem, not a server fault.
    return 400


def domain_error_response(error: DomainError) -> Response:
    status = domain_status(error)
    headers = BEARER_CHALLENGE if status == HTTPStatus.UNAUTHORIZED else None
    return error_response(status, error.kind, error.message, headers)


async def _on_domain_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, DomainError):  # registered for DomainError only; never expected
        raise exc
    return domain_error_response(exc)


async def _on_api_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):  # registered for ApiError only; never expected
        raise exc
    return error_response(exc.status_code, exc.error_type, exc.message, exc.headers)


async def _on_http_exception(_: Request, exc: Exception) -> Response:
    # Starlette raises these for unknown routes (404) and wrong methods (405, with `Allow`).
    if not isinstance(exc, HTTPException):  # registered for HTTPException only; never expected
        raise exc
    error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, error_type, exc.detail.lower(), exc.headers)


async def _on_storage_error(request: Request, exc: Exception) -> Response:
    log.error("store_unavailable", path=request.url.path, method=request.method, exc_info=exc)
    return error_response(503, "service_unavailable", "the store is unavailable, try again later")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log only; the client learns nothing about our internals.
    log.error("unhandled_exception", path=request.url.path, method=request.method, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred")


def exception_handlers() -> dict[Any, ExceptionHandler]:
    return {
        DomainError: _on_domain_error,
        ApiError: _on_api_error,
        HTTPException: _on_http_exception,
        StorageError: _on_storage_error,
        # Starlette hands `Exception` to its outermost error middleware, which answers 500.
        Exception: _on_unexpected,
    }
