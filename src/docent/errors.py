"""One error tree with stable codes; the HTTP mapping lives in `docent.api.errors`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # 400
    BAD_REQUEST = "bad_request"
    MALFORMED_JSON = "malformed_json"
    EMPTY_FILE = "empty_file"
    URL_FORBIDDEN = "url_forbidden"
    WRONG_PASSWORD = "wrong_password"
    ORGANIZATION_REQUIRED = "organization_required"
    # 401
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    # 403
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    # 404
    NOT_FOUND = "not_found"
    USER_NOT_FOUND = "user_not_found"
    GROUP_NOT_FOUND = "group_not_found"
    API_KEY_NOT_FOUND = "api_key_not_found"
    DOCUMENT_NOT_FOUND = "document_not_found"
    JOB_NOT_FOUND = "job_not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409
    EMAIL_TAKEN = "email_taken"
    GROUP_NAME_TAKEN = "group_name_taken"
    LAST_ADMIN = "last_admin"
    # 413
    PAYLOAD_TOO_LARGE = "payload_too_large"
    DOCUMENT_TOO_LARGE = "document_too_large"
    # 415
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    CONTENT_TYPE_MISMATCH = "content_type_mismatch"
    # 422
    VALIDATION_ERROR = "validation_error"
    INVALID_URL = "invalid_url"
    # 429
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # 500 / 503
    INTERNAL_ERROR = "internal_error"
    NOT_READY = "not_ready"
    # 502 / 504: a page Docent was asked to fetch could not be had
    FETCH_FAILED = "fetch_failed"
    FETCH_TIMEOUT = "fetch_timeout"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.EMPTY_FILE: 400,
    ErrorCode.URL_FORBIDDEN: 400,
    ErrorCode.WRONG_PASSWORD: 400,
    ErrorCode.ORGANIZATION_REQUIRED: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.GROUP_NOT_FOUND: 404,
    ErrorCode.API_KEY_NOT_FOUND: 404,
    ErrorCode.DOCUMENT_NOT_FOUND: 404,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.GROUP_NAME_TAKEN: 409,
    ErrorCode.LAST_ADMIN: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.DOCUMENT_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.CONTENT_TYPE_MISMATCH: 415,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.INVALID_URL: 422,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.NOT_READY: 503,
    ErrorCode.FETCH_FAILED: 502,
    ErrorCode.FETCH_TIMEOUT: 504,
}

_DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.NOT_AUTHENTICATED: "Authentication required.",
    ErrorCode.INVALID_CREDENTIALS: "Incorrect email or password.",
    ErrorCode.INVALID_TOKEN: "The token is invalid.",
    ErrorCode.TOKEN_EXPIRED: "The token has expired.",
    ErrorCode.TOKEN_REVOKED: "The token has been revoked.",
    ErrorCode.FORBIDDEN: "You are not allowed to do this.",
    ErrorCode.CSRF_FAILED: "This request did not come from Docent's own pages (cross-site request refused).",
    ErrorCode.WRONG_PASSWORD: "The current password is not correct.",
    ErrorCode.ORGANIZATION_REQUIRED: "This email belongs to several organisations: choose one.",
    ErrorCode.USER_NOT_FOUND: "User not found.",
    ErrorCode.GROUP_NOT_FOUND: "Group not found.",
    ErrorCode.API_KEY_NOT_FOUND: "API key not found.",
    ErrorCode.DOCUMENT_NOT_FOUND: "Document not found.",
    ErrorCode.JOB_NOT_FOUND: "Job not found.",
    ErrorCode.TOO_MANY_ATTEMPTS: "Too many failed attempts; try again later.",
    ErrorCode.INTERNAL_ERROR: "Internal server error.",
}


class DocentError(Exception):
    """An expected failure with a stable code; `details` must never hold secrets.

    A failure normally undoes the transaction it happened in. `keep_writes=True` commits what was written
    before it: security records (a failed login, a session revoked for token reuse) must outlive the
    request they refuse.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        keep_writes: bool = False,
    ) -> None:
        self.code = code
        self.keep_writes = keep_writes
        self.message = message or _DEFAULT_MESSAGES.get(code, code.value.replace("_", " ").capitalize() + ".")
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
