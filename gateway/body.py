"""Reading request bodies under a size limit, and telling JSON media types apart."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from gateway.errors import ApiError


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")


def declared_length(request: Request) -> int | None:
    """The Content-Length header, or None when the body is streamed (chunked)."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    text = raw.strip()
    # ASCII digits only: int() would also take signs, underscores and other scripts' digits.
    if not text or not text.isascii() or not text.isdigit():
        raise ApiError(400, "invalid_request", "Content-Length is not a non-negative integer")
    return int(text)


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed `limit` bytes.

    A declared length over the limit is refused before a single byte is read; a
    streamed body is read chunk by chunk and abandoned at the first chunk that
    crosses the limit, so a hostile client can never make us buffer more than that.
    """
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            # A Content-Length that understates the body is caught here as well.
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "invalid_request", "the client disconnected before sending the body") from None
    return b"".join(chunks)


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or any `application/*+json`, parameters (charset...) allowed."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    main, slash, sub = media_type.partition("/")
    # A structured suffix needs a name before it: "+json" alone is not a media type.
    structured = sub.endswith("+json") and sub != "+json"
    return main == "application" and bool(slash) and (sub == "json" or structured)
