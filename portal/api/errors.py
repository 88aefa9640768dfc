"""API errors: always JSON `{"error": code, "message": text}`, never an HTML page."""
from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

# The stable `error` code of each HTTP status the API answers with.
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "unprocessable",
    429: "too_many_requests", 500: "internal_error", 501: "not_implemented", 503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}


def unauthorized(message: str, code: str = "invalid_token") -> ApiError:
    # RFC 6750, section 3: say which scheme and what was wrong with the token.
    escaped = message.replace('"', "'")
    challenge = (f'Bearer realm="marsad", error="{code}", error_description="{escaped}"'
                 if code == "invalid_token" else 'Bearer realm="marsad"')
    return ApiError(401, message, code="unauthorized", headers={"WWW-Authenticate": challenge})


def error_response(error: ApiError):
    response = jsonify(error=error.code, message=error.message)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def http_error_response(error: HTTPException):
    status = error.code or 500
    headers = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else {}
    message = error.description if status != 500 else "something went wrong on our side; the error has been logged"
    return error_response(ApiError(status, message, headers=headers))
