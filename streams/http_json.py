"""What every route of the worker answers with and reads its body through: JSON answers, bounded bodies."""
from __future__ import annotations

import orjson

POST_BODY_CHUNK_BYTES = 16 * 1024


def json_response(web, value, status: int = 200):
    # aiohttp refuses a charset inside content_type=, so the header is set whole.
    return web.bytes(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), status=status,
                     headers={"Content-Type": "application/json; charset=utf-8"})


async def read_body(request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to be larger than `limit` bytes: by its
    Content-Length before a byte is read, else (chunked) once `limit` + 1 bytes have come. A body of
    50 MB is refused after at most `limit` + a chunk, never read whole."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(POST_BODY_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
