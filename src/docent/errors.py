"""One error tree with stable codes; the HTTP mapping lives in `docent.api.errors`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """A stable code (its value, what clients and stored records see), the HTTP status it answers with and
    the message it says when none is given: adding a code is adding its one line here.

    Codes of the ingestion adapters (parsers, sniffing, the URL fetcher) are stored on a failed version;
    they reach HTTP only when a request itself is refused for that reason."""

    http_status: int
    default_message: str

    def __new__(cls, value: str, http_status: int, default_message: str | None = None) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.http_status = http_status
        member.default_message = default_message or value.replace("_", " ").capitalize() + "."
        return member

    # 400
    BAD_REQUEST = "bad_request", 400
    MALFORMED_JSON = "malformed_json", 400
    EMPTY_FILE = "empty_file", 400
    URL_FORBIDDEN = "url_forbidden", 400
    INVALID_URL = "invalid_url", 400, "The URL is not an http:// or https:// address that can be fetched."
    UNKNOWN_MODEL = "unknown_model", 400, "No answerer of that name is configured."
    NO_QUESTION = "no_question", 400, "The messages need a user message with text."
    WRONG_PASSWORD = "wrong_password", 400, "The current password is not correct."
    ORGANIZATION_REQUIRED = (
        "organization_required",
        400,
        "This email belongs to several organisations: choose one.",
    )
    # 401
    NOT_AUTHENTICATED = "not_authenticated", 401, "Authentication required."
    INVALID_CREDENTIALS = "invalid_credentials", 401, "Incorrect email or password."
    INVALID_TOKEN = "invalid_token", 401, "The token is invalid."
    TOKEN_EXPIRED = "token_expired", 401, "The token has expired."
    TOKEN_REVOKED = "token_revoked", 401, "The token has been revoked."
    SSO_FAILED = "sso_failed", 401, "Single sign-on did not succeed."
    # 403
    FORBIDDEN = "forbidden", 403, "You are not allowed to do this."
    INSUFFICIENT_SCOPE = "insufficient_scope", 403, "This API key does not have the scope this request needs."
    CSRF_FAILED = (
        "csrf_failed",
        403,
        "This request did not come from Docent's own pages (cross-site request refused).",
    )
    ACCOUNT_DEACTIVATED = "account_deactivated", 403, "This account is deactivated; ask an administrator."
    SSO_EMAIL_UNVERIFIED = (
        "sso_email_unverified",
        403,
        "A Docent account already uses this email, and your identity provider has not verified that the "
        "email is yours, so this sign-in cannot be joined to that account. Ask an administrator.",
    )
    PASSWORD_LOGIN_DISABLED = (
        "password_login_disabled",
        403,
        "This organisation signs in with single sign-on only.",
    )
    # 404
    SSO_NOT_CONFIGURED = "sso_not_configured", 404, "Single sign-on is not configured."
    NOT_FOUND = "not_found", 404
    USER_NOT_FOUND = "user_not_found", 404, "User not found."
    GROUP_NOT_FOUND = "group_not_found", 404, "Group not found."
    API_KEY_NOT_FOUND = "api_key_not_found", 404, "API key not found."
    DOCUMENT_NOT_FOUND = "document_not_found", 404, "Document not found."
    JOB_NOT_FOUND = "job_not_found", 404, "Job not found."
    SOURCE_NOT_FOUND = "source_not_found", 404, "Source not found."
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed", 405
    # 409
    SSO_ACCOUNT_CONFLICT = (
        "sso_account_conflict",
        409,
        "The Docent account with this email is already linked to another account at your identity "
        "provider, so this sign-in cannot use it. Ask an administrator.",
    )
    EMAIL_TAKEN = "email_taken", 409
    GROUP_NAME_TAKEN = "group_name_taken", 409
    LAST_ADMIN = "last_admin", 409
    SOURCE_RUN_ACTIVE = "source_run_active", 409, "A run of this source is already queued or running."
    # 413
    PAYLOAD_TOO_LARGE = "payload_too_large", 413
    DOCUMENT_TOO_LARGE = "document_too_large", 413
    # 415
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415
    CONTENT_TYPE_MISMATCH = "content_type_mismatch", 415
    # 422
    VALIDATION_ERROR = "validation_error", 422
    # 422: a stored file that cannot be read as its type (kept on the failed version)
    PDF_CORRUPT = "pdf_corrupt", 422, "The PDF is damaged and cannot be read."
    PDF_ENCRYPTED = "pdf_encrypted", 422, "The PDF is encrypted and could not be decrypted."
    PDF_NO_TEXT = "pdf_no_text", 422, "The PDF has no text layer (it may be a scan)."
    DOCX_CORRUPT = "docx_corrupt", 422, "The Word document is damaged and cannot be read."
    DECODE_ERROR = "decode_error", 422, "The file is not valid UTF-8, UTF-16 or Windows-1252 text."
    NO_TEXT = "no_text", 422, "The document has no text to index."
    PARSE_ERROR = "parse_error", 422, "The document could not be read because of an unexpected error."
    DOCUMENT_TOO_COMPLEX = "document_too_complex", 422, "The document is too complex to read."
    PARSE_TIMEOUT = "parse_timeout", 422, "Reading the document took longer than allowed."
    ARCHIVE_BOMB = "archive_bomb", 422, "The document expands to far more than its size; it was not read."
    # 429
    TOO_MANY_ATTEMPTS = "too_many_attempts", 429, "Too many failed attempts; try again later."
    RATE_LIMITED = "rate_limited", 429, "Too many requests; try again later."
    TOO_MANY_STREAMS = "too_many_streams", 429, "Too many answers are streaming at once."
    TOO_MANY_QUEUED_DOCUMENTS = (
        "too_many_queued_documents",
        429,
        "Too many of your documents are waiting to be indexed; try again when some are done.",
    )
    # 500 / 503
    INTERNAL_ERROR = "internal_error", 500, "Internal server error."
    NOT_READY = "not_ready", 503
    # 502 / 504: a page Docent was asked to fetch could not be had; a provider failed mid-answer
    FETCH_FAILED = "fetch_failed", 502
    FETCH_TIMEOUT = "fetch_timeout", 504
    PROVIDER_FAILED = "provider_failed", 502, "The answer could not be completed; please ask again."


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
        self.message = message or code.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return self.code.http_status
