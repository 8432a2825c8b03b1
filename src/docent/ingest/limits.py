"""Bounds on what one document may cost to parse, checked before and after the parser runs.

Before: an archive (a DOCX is a zip) is judged from its central directory first, without inflating
anything: member count, each member's declared size and compression ratio, the total, members that
overlap or are odd (encrypted, unusual compression, unsafe names, nested archives). Declared sizes can
lie, and zipfile's `read()` inflates up to 1 GiB of a member before it cuts the output to the declared
size, so each deflated member is then inflated once in bounded steps, counting, and refused as soon as
it yields more than it declared. After: the parser's output, the text and the section count the
chunker and the embedder will have to work through.

Failure codes: `archive_bomb` (the archive), `document_too_complex` (the output, or the memory the
parse needed). The memory and time limits themselves are enforced by the parse process (sandbox.py).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from docent.config import Settings
from docent.errors import ErrorCode
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure

ARCHIVE_BOMB = ErrorCode.ARCHIVE_BOMB
DOCUMENT_TOO_COMPLEX = ErrorCode.DOCUMENT_TOO_COMPLEX
PARSE_TIMEOUT = ErrorCode.PARSE_TIMEOUT

# A Word document has tens of parts, a few hundred with many images; a directory longer than this is
# refused before zipfile builds an object per entry.
MAX_ARCHIVE_MEMBERS = 10_000
# XML compresses 5-20:1, a page of one repeated run up to ~60:1; zip bombs are 1000:1 and more.
MAX_COMPRESSION_RATIO = 100
# Small members compress freely (a kilobyte of spaces); ratios count only above this size.
RATIO_GRACE_BYTES = 1024 * 1024
# Room for that many entries with long names; zipfile holds the whole directory and an object per entry.
MAX_DIRECTORY_BYTES = MAX_ARCHIVE_MEMBERS * 400
_STORED, _DEFLATED = 0, 8
# Archives inside the package are never opened by the parser; Word keeps embedded files here.
_EMBEDDINGS = "word/embeddings/"
_ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".jar", ".docx", ".xlsx", ".pptx",
     ".docm", ".odt", ".epub", ".cab", ".zst"}
)  # fmt: skip

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_ENTRY = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL_HEADER_SIZE = 30
_MIB = 1024 * 1024
_INFLATE_STEP = 256 * 1024  # the most output one step of the inflation check may hold


@dataclass(frozen=True)
class ParseLimits:
    max_memory_mb: int = 1024
    timeout_seconds: float = 60.0
    max_text_mb: int = 20
    max_sections: int = 20_000
    max_unpacked_mb: int = 512
    max_members: int = MAX_ARCHIVE_MEMBERS
    max_ratio: int = MAX_COMPRESSION_RATIO

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(
            max_memory_mb=settings.parse_max_memory_mb,
            timeout_seconds=settings.parse_timeout_seconds,
            max_text_mb=settings.parse_max_text_mb,
            max_sections=settings.parse_max_sections,
            max_unpacked_mb=settings.parse_max_unpacked_mb,
        )

    @property
    def max_text_chars(self) -> int:
        return self.max_text_mb * 1_000_000


@dataclass(frozen=True)
class Member:
    name: str
    flags: int
    method: int
    compressed: int
    size: int
    offset: int  # of the local header


def parse_within_limits(content_type: ContentType, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Check the archive, parse, check the output; raises ParseFailure only."""
    from docent.ingest.parsers import parse

    if content_type is ContentType.DOCX:
        inspect_zip(data, limits)
    document = parse(content_type, data)
    check_output(document, limits)
    return document


def check_output(document: ParsedDocument, limits: ParseLimits) -> None:
    if len(document.sections) > limits.max_sections:
        raise ParseFailure(
            DOCUMENT_TOO_COMPLEX,
            f"The document has {len(document.sections):,} sections (pages or headings); "
            f"at most {limits.max_sections:,} are indexed.",
        )
    chars = sum(len(section.text) for section in document.sections)
    if chars > limits.max_text_chars:
        raise ParseFailure(
            DOCUMENT_TOO_COMPLEX,
            f"The document holds {chars / 1e6:.1f} MB of text; at most {limits.max_text_mb} MB is indexed.",
        )


def declared_directory(tail: bytes) -> tuple[int, int] | None:
    """(member count, directory size in bytes) as the end record in the last bytes of a zip states them.
    zipfile reads the directory by its size, whatever the count says, so both matter."""
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    fields = _EOCD.unpack_from(tail, at)
    return int(fields[4]), int(fields[5])


def directory_too_large(tail: bytes) -> str | None:
    """Why zipfile should not read this archive's directory at all (too many members), or None."""
    declared = declared_directory(tail)
    if declared is None:
        return None
    count, size = declared
    if count > MAX_ARCHIVE_MEMBERS or size > MAX_DIRECTORY_BYTES:
        return f"a zip archive of {count:,} files ({_mb(size)} of directory)"
    return None


def inspect_zip(data: bytes, limits: ParseLimits) -> list[Member]:
    """The archive's members as its central directory declares them; raises ParseFailure
    (`archive_bomb`) for a bomb or an odd member, (`docx_corrupt`) for a directory that cannot be read."""
    members, directory_start = _read_directory(data, limits.max_members)
    seen: set[str] = set()
    for member in members:
        _check_member(member, limits)
        if member.name in seen:
            raise _bomb(f"it holds the part {member.name!r} twice")
        seen.add(member.name)
    _check_overlap(members, directory_start)
    total = sum(member.size for member in members)
    packed = sum(member.compressed for member in members)
    if total > limits.max_unpacked_mb * _MIB:
        raise _bomb(f"it unpacks to {_mb(total)} in all; at most {limits.max_unpacked_mb} MB is accepted")
    if total > RATIO_GRACE_BYTES and total > limits.max_ratio * max(packed, 1):
        ratio = _ratio(total, packed, limits.max_ratio)
        raise _bomb(f"it unpacks from {_mb(packed)} to {_mb(total)}, {ratio}")
    for member in members:  # only now that the declared sizes are within limits
        _check_inflation(data, member)
    return members


def _check_member(member: Member, limits: ParseLimits) -> None:
    name = member.name
    if member.flags & 0x1:
        raise _bomb(f"its part {name!r} is encrypted")
    if member.method not in (_STORED, _DEFLATED):
        raise _bomb(f"its part {name!r} uses compression method {member.method}, which Word does not write")
    path = PurePosixPath(name)
    if "\x00" in name or "\\" in name or name.startswith("/") or ".." in path.parts or ":" in name:
        raise _bomb(f"a part has an unsafe name ({name[:80]!r})")
    if path.suffix.lower() in _ARCHIVE_SUFFIXES and not name.startswith(_EMBEDDINGS):
        raise _bomb(f"it holds another archive ({name[:80]!r})")
    if member.size > limits.max_unpacked_mb * _MIB:
        most = limits.max_unpacked_mb
        raise _bomb(f"its part {name!r} unpacks to {_mb(member.size)}; at most {most} MB is accepted")
    if member.size > RATIO_GRACE_BYTES and member.size > limits.max_ratio * max(member.compressed, 1):
        raise _bomb(
            f"its part {name!r} unpacks from {_mb(member.compressed)} to {_mb(member.size)}, "
            f"{_ratio(member.size, member.compressed, limits.max_ratio)}"
        )


def _check_overlap(members: list[Member], directory_start: int) -> None:
    """Members whose data overlap (the 'overlapping files' bomb: every member reuses one kernel)."""
    ordered = sorted(members, key=lambda m: m.offset)
    for member, following in zip(ordered, [*ordered[1:], None], strict=True):
        end = member.offset + _LOCAL_HEADER_SIZE + member.compressed
        limit = following.offset if following is not None else directory_start
        if end > limit:
            raise _bomb(f"its part {member.name!r} overlaps the data of another part")


def _check_inflation(data: bytes, member: Member) -> None:
    """Inflate the member in bounded steps, only counting: refused as soon as it passes its declared size."""
    if member.method != _DEFLATED:
        if member.size != member.compressed:
            raise _bomb(f"its stored part {member.name!r} declares two different sizes")
        return
    header = data[member.offset : member.offset + _LOCAL_HEADER_SIZE]
    if len(header) < _LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
        raise _corrupt()
    name_length, extra_length = struct.unpack_from("<2H", header, 26)
    start = member.offset + _LOCAL_HEADER_SIZE + name_length + extra_length
    if start + member.compressed > len(data):
        raise _corrupt()
    inflater = zlib.decompressobj(-15)
    produced, position, end = 0, start, start + member.compressed
    pending = b""
    while not inflater.eof:
        if not pending and position < end:
            pending = data[position : min(end, position + _INFLATE_STEP)]
            position += _INFLATE_STEP
        try:
            # With no input left, this drains what zlib holds back when a step's output is full.
            out = inflater.decompress(pending, _INFLATE_STEP)
        except zlib.error:
            raise _corrupt() from None
        produced += len(out)
        if produced > member.size:
            raise _bomb(f"its part {member.name!r} inflates to more than the {_mb(member.size)} it declares")
        pending = inflater.unconsumed_tail
        if not out and not pending and position >= end:
            break


def _read_directory(data: bytes, max_members: int) -> tuple[list[Member], int]:
    """The members, and where the directory starts (member data must end before it)."""
    count, size, start, shift = _directory_bounds(data)
    if count > max_members:
        raise _bomb(f"it has {count:,} parts; at most {max_members:,} are accepted")
    if start + size > len(data):
        raise _corrupt()
    members: list[Member] = []
    position, end = start, start + size
    # Read as zipfile does, to the end of the directory whatever count the end record states.
    while position < end:
        if len(members) >= max_members:
            raise _bomb(f"it has more than {max_members:,} parts")
        if position + _ENTRY.size > end:
            raise _corrupt()
        fields = _ENTRY.unpack_from(data, position)
        if fields[0] != b"PK\x01\x02":
            raise _corrupt()
        flags, method = fields[3], fields[4]
        compressed, size_, name_len, extra_len, comment_len, offset = (
            fields[8], fields[9], fields[10], fields[11], fields[12], fields[16]
        )  # fmt: skip
        name_at = position + _ENTRY.size
        raw_name = data[name_at : name_at + name_len]
        extra = data[name_at + name_len : name_at + name_len + extra_len]
        size_, compressed, offset = _zip64_values(extra, size_, compressed, offset)
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        members.append(Member(name, flags, method, compressed, size_, offset + shift))
        position = name_at + name_len + extra_len + comment_len
    return members, start


def _directory_bounds(data: bytes) -> tuple[int, int, int, int]:
    """(member count, directory size, directory offset, shift): offsets are shifted by the bytes
    prepended to the archive, if any."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_536 - _EOCD.size))
    if at < 0 or len(data) - at < _EOCD.size:
        raise _corrupt()
    _, _, _, _, count, size, offset, _ = _EOCD.unpack_from(data, at)
    directory_end = at
    locator_at = at - _EOCD64_LOCATOR.size
    if locator_at >= 0 and data[locator_at : locator_at + 4] == b"PK\x06\x07":
        record_at = _EOCD64_LOCATOR.unpack_from(data, locator_at)[2]
        if record_at + _EOCD64.size > len(data) or data[record_at : record_at + 4] != b"PK\x06\x06":
            raise _corrupt()
        fields = _EOCD64.unpack_from(data, record_at)
        count, size, offset = fields[7], fields[8], fields[9]
        directory_end = record_at
    # As zipfile does: data before the archive (a self-extractor stub) shifts every offset.
    shift = directory_end - size - offset
    if shift < 0:
        raise _corrupt()
    return count, size, offset + shift, shift


def _zip64_values(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the zip64 extra field, for those the fixed header marks 0xFFFFFFFF."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if tag == 0x0001:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            wanted = [value == 0xFFFFFFFF for value in (size, compressed, offset)]
            resolved = [size, compressed, offset]
            for index, needed in enumerate(wanted):
                if needed:
                    if not values:
                        raise _corrupt()
                    resolved[index] = values.pop(0)
            return resolved[0], resolved[1], resolved[2]
        position += 4 + length
    return size, compressed, offset


def _bomb(reason: str) -> ParseFailure:
    return ParseFailure(ARCHIVE_BOMB, f"The Word document was refused before unpacking: {reason}.")


def _corrupt() -> ParseFailure:
    return ParseFailure(ErrorCode.DOCX_CORRUPT, "The file is damaged: its zip directory cannot be read.")


def _mb(size: int) -> str:
    return f"{size / _MIB:,.1f} MB" if size >= _MIB // 10 else f"{size / 1024:,.1f} kB"


def _ratio(size: int, compressed: int, most: int) -> str:
    return f"a ratio of {size / max(compressed, 1):,.0f}:1 (at most {most}:1 is accepted)"
