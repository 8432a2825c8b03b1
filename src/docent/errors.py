"""One error tree with stable codes; the HTTP mapping lives in `docent.api.errors`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # 400
    BAD_REQUEST = "bad_request"
    MALFORMED_JSON = "malformed_json"
    # 401
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    # 403
    FORBIDDEN = "forbidden"
    # 404
    NOT_FOUND = "not_found"
    USER_NOT_FOUND = "user_not_found"
    GROUP_NOT_FOUND = "group_not_found"
    API_KEY_NOT_FOUND = "api_key_not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409
    EMAIL_TAKEN = "email_taken"
    GROUP_NAME_TAKEN = "group_name_taken"
    LAST_ADMIN = "last_admin"
    # 413
    PAYLOAD_TOO_LARGE = "payload_too_large"
    # 422
    VALIDATION_ERROR = "validation_error"
    # 429
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # 500 / 503
    INTERNAL_ERROR = "internal_error"
    NOT_READY = "not_ready"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.GROUP_NOT_FOUND: 404,
    ErrorCode.API_KEY_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.GROUP_NAME_TAKEN: 409,
    ErrorCode.LAST_ADMIN: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.NOT_READY: 503,
}

_DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.NOT_AUTHENTICATED: "Authentication required.",
    ErrorCode.INVALID_CREDENTIALS: "Incorrect email or password.",
    ErrorCode.INVALID_TOKEN: "The token is invalid.",
    ErrorCode.TOKEN_EXPIRED: "The token has expired.",
    ErrorCode.TOKEN_REVOKED: "The token has been revoked.",
    ErrorCode.FORBIDDEN: "You are not allowed to do this.",
    ErrorCode.USER_NOT_FOUND: "User not found.",
    ErrorCode.GROUP_NOT_FOUND: "Group not found.",
    ErrorCode.API_KEY_NOT_FOUND: "API key not found.",
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
