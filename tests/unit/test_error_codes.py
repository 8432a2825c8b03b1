"""One error tree: every code carries its HTTP status and default message (adding a code is one line), the
adapters' codes are members of it, and statuses are enums whose stored values never change."""

from __future__ import annotations

import inspect

import pytest

import docent.errors
from docent.answer.chain import PROVIDER_FAILED, ProviderStatus
from docent.errors import DocentError, ErrorCode
from docent.jobs.runner import JobOutcome, OutcomeStatus
from docent.types import JobStatus, VersionStatus

ADAPTER_CODES = {
    "pdf_corrupt",
    "pdf_encrypted",
    "pdf_no_text",
    "docx_corrupt",
    "decode_error",
    "no_text",
    "parse_error",
    "document_too_complex",  # the parse sandbox's limits
    "parse_timeout",
    "archive_bomb",
}


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_every_code_has_an_http_status_and_a_message(code: ErrorCode) -> None:
    assert 400 <= code.http_status <= 599
    assert code.default_message and code.default_message.endswith(".")
    error = DocentError(code)
    assert (error.message, error.http_status) == (code.default_message, code.http_status)
    assert ErrorCode(code.value) is code and code == code.value  # stored and sent as its plain value


def test_the_codes_are_the_only_table() -> None:
    tables = [
        name
        for name, value in vars(docent.errors).items()
        if isinstance(value, dict) and any(isinstance(key, ErrorCode) for key in value)
    ]
    assert tables == []
    assert "HTTP_STATUS" not in inspect.getsource(docent.errors)


def test_adapter_codes_are_codes_stored_on_failed_versions() -> None:
    assert {code.value for code in ErrorCode} >= ADAPTER_CODES
    assert {ErrorCode(code).http_status for code in ADAPTER_CODES} == {422}
    assert len(max(ErrorCode, key=len)) <= 50  # the width of the error_code columns


def test_a_message_given_replaces_the_default_only() -> None:
    error = DocentError(ErrorCode.DOCUMENT_NOT_FOUND, "No document 7.")
    assert (error.code, error.message, error.http_status) == (
        ErrorCode.DOCUMENT_NOT_FOUND,
        "No document 7.",
        404,
    )
    assert DocentError(ErrorCode.EMAIL_TAKEN).message == "Email taken."


def test_statuses_are_enums_with_the_stored_values() -> None:
    expected = ["queued", "processing", "completed", "failed"]
    assert [status.value for status in JobStatus] == expected
    assert [status.value for status in VersionStatus] == expected
    assert [status.value for status in OutcomeStatus] == ["completed", "failed", "retry", "defer"]
    assert [status.value for status in ProviderStatus] == ["none", "failed", "interrupted"]
    assert PROVIDER_FAILED is ErrorCode.PROVIDER_FAILED


def test_a_job_outcome_carries_its_code_beside_its_message() -> None:
    outcome = JobOutcome.failed("The PDF is damaged.", ErrorCode.PDF_CORRUPT)
    assert (outcome.status, outcome.error, outcome.code) == (
        OutcomeStatus.FAILED,
        "The PDF is damaged.",
        ErrorCode.PDF_CORRUPT,
    )
    assert JobOutcome.retry("later").code is None and JobOutcome.completed().status is OutcomeStatus.COMPLETED
