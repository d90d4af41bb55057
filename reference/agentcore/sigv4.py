"""AWS Signature Version 4 verification for the AgentCore-compatible API.

AWS clients sign every request ("Create a signed AWS API request", AWS IAM User Guide,
docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)::

    Authorization: AWS4-HMAC-SHA256 Credential=<access key id>/<yyyymmdd>/<region>/
        bedrock-agentcore/aws4_request, SignedHeaders=content-type;host;x-amz-date,
        Signature=<64 hex digits>

The server recomputes the signature with the secret it holds for the access key id:

1. **canonical request**: the method; the URI-encoded path (the path as sent, percent
   escapes included, encoded once more, ``/`` and ``~`` kept, after removing dot
   segments); the query parameters, each name and value URI-encoded (``-_.~`` kept) and
   sorted; each signed header as ``lowercase-name:value`` with surrounding white space
   trimmed and inner runs collapsed (repeated headers joined by ``,``), sorted, followed by
   an empty line; the signed header names joined by ``;``; the hex SHA-256 of the body (or
   ``x-amz-content-sha256``, which must then equal it);
2. **string to sign**: ``AWS4-HMAC-SHA256``, the ``x-amz-date`` timestamp, the credential
   scope ``<yyyymmdd>/<region>/<service>/aws4_request`` and the hex SHA-256 of the canonical
   request, joined by newlines;
3. **signing key**: ``HMAC("AWS4" + secret, date)``, then ``region``, ``service`` and
   ``aws4_request`` in turn; the signature is the hex HMAC of the string to sign;
4. the two signatures are compared in constant time.

Both planes sign with the service name ``bedrock-agentcore`` (the control plane's signing
name too). The scope's region is data: proctor serves one region and accepts any, as the
client chose. The request time (``x-amz-date``, else ``Date``) must be within five minutes
of the service clock, and the scope's date must be the request time's date. ``host`` must
be signed (botocore always signs it, port included).

Each access key id maps to a secret and a **principal**: ``admin`` (every operation) or
the name of a workload (that workload's data-plane operations only).

**Development mode** accepts any request, signed or not, as the ``admin`` principal. It
exists so that the SDK runs with dummy credentials; the service logs a warning when it
starts with it, and it must never face a network.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, unquote

from proctor.reference.agentcore.wire import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ADMIN",
    "ALGORITHM",
    "SERVICE",
    "Credential",
    "Principal",
    "SignedRequest",
    "Verifier",
    "parse_credentials",
    "sign",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "bedrock-agentcore"
ADMIN: Final = "admin"
#: AWS refuses a signature more than five minutes away from its clock.
MAX_SKEW: Final = 300
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_AMZ_DATE: Final = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_ACCESS_KEY: Final = re.compile(r"[A-Za-z0-9]{4,128}")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME: Final = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_WORKLOAD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,63}")
_MAX_HEADER: Final = 8192


@dataclass(frozen=True)
class Principal:
    """Who signed: ``admin``, or a workload (by name)."""

    name: str
    access_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.name == ADMIN


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal: str


def parse_credentials(spec: str) -> dict[str, Credential]:
    """``AKID:SECRET:PRINCIPAL`` entries separated by commas (white space around entries is
    ignored) → a table by access key id. ``PRINCIPAL`` is ``admin`` or a workload name.
    ``ValueError`` (naming no secret) for anything else."""
    table: dict[str, Credential] = {}
    for position, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) != 3:
            raise ValueError(f"AgentCore credential {position} is not AKID:SECRET:PRINCIPAL")
        akid, secret, principal = (p.strip() for p in parts)
        if not _ACCESS_KEY.fullmatch(akid):
            raise ValueError(
                f"AgentCore credential {position}: the access key id is 4-128 letters and digits"
            )
        if len(secret) < 16:
            raise ValueError(
                f"AgentCore credential {position}: the secret has at least 16 characters"
            )
        if principal != ADMIN and not _WORKLOAD.fullmatch(principal):
            raise ValueError(
                f"AgentCore credential {position}: the principal is admin or a workload name"
            )
        if akid in table:
            raise ValueError(f"AgentCore credential {position}: access key id listed twice")
        table[akid] = Credential(akid, secret, principal)
    return table


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that a signature covers."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]  # (lowercase name, value), in arrival order
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, as botocore's ``normalize_url_path``."""
    if not path:
        return "/"
    output: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if output:
                output.pop()
        else:
            output.append(segment)
    normalized = "/" + "/".join(output)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return normalized


def canonical_path(raw_path: str) -> str:
    return quote(_remove_dot_segments(raw_path), safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = quote(unquote(name.replace("+", " ")), safe="-_.~")
        value = quote(unquote(value.replace("+", " ")), safe="-_.~")
        pairs.append((name, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_request(
    request: SignedRequest, signed_headers: Sequence[str], payload_hash: str
) -> str:
    lines = [
        f"{name}:{','.join(_trim(v) for v in request.header_values(name))}"
        for name in signed_headers
    ]
    return "\n".join(
        [
            request.method.upper(),
            canonical_path(request.raw_path),
            canonical_query(request.raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return "\n".join([ALGORITHM, amz_date, scope, digest])


def signature(secret: str, amz_date: str, region: str, service: str, canonical: str) -> str:
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    key = signing_key(secret, amz_date[:8], region, service)
    return hmac.new(
        key, string_to_sign(amz_date, scope, canonical).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign(
    request: SignedRequest,
    *,
    access_key_id: str,
    secret: str,
    amz_date: str,
    region: str,
    service: str = SERVICE,
    signed_headers: Sequence[str] = ("host", "x-amz-date"),
) -> str:
    """The ``Authorization`` header for ``request`` (used by tests and tools; ``request``
    must already carry the signed headers)."""
    payload = hashlib.sha256(request.body).hexdigest()
    names = sorted(signed_headers)
    canonical = canonical_request(request, names, payload)
    value = signature(secret, amz_date, region, service, canonical)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    return (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={value}"
    )


def _fields(authorization: str) -> dict[str, str]:
    """``Credential=…, SignedHeaders=…, Signature=…`` → a dict (``IncompleteSignature``
    when a component is missing or repeated)."""
    out: dict[str, str] = {}
    for part in authorization.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in out:
            raise IncompleteSignatureException(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."
            )
        out[name] = value.strip()
    missing = {"Credential", "SignedHeaders", "Signature"} - set(out)
    if missing:
        raise IncompleteSignatureException(
            "Authorization header requires '" + "', '".join(sorted(missing)) + "' parameter."
        )
    return out


def _request_time(request: SignedRequest) -> tuple[str, float]:
    values = request.header_values("x-amz-date")
    if len(values) == 1 and _AMZ_DATE.fullmatch(values[0].strip()):
        text = values[0].strip()
        moment = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return text, moment.timestamp()
    raise IncompleteSignatureException(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ")


class Verifier:
    """Verifies SigV4 against static credentials (or accepts everything in dev mode)."""

    def __init__(
        self,
        credentials: Mapping[str, Credential] | Iterable[Credential],
        *,
        dev_mode: bool = False,
        max_skew: int = MAX_SKEW,
    ) -> None:
        table = (
            dict(credentials)
            if isinstance(credentials, Mapping)
            else {c.access_key_id: c for c in credentials}
        )
        if not 0 < max_skew <= 900:
            raise ValueError("the allowed clock skew is 1-900 seconds")
        self._credentials = table
        self.dev_mode = dev_mode
        self._max_skew = max_skew

    def verify(self, request: SignedRequest, now: float) -> Principal:
        """The principal that signed ``request``; raises the AWS signature errors."""
        if self.dev_mode:
            return Principal(ADMIN)
        headers = request.header_values("authorization")
        if not headers:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        authorization = headers[0]
        if len(headers) != 1 or len(authorization) > _MAX_HEADER:
            raise IncompleteSignatureException("Only one Authorization header is allowed.")
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported authorization type; use {ALGORITHM} (Signature Version 4)."
            )
        fields = _fields(rest)
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise IncompleteSignatureException(
                "Credential should be 'AKID/yyyymmdd/region/service/aws4_request'."
            )
        akid, date, region, service, _ = scope
        signed = fields["SignedHeaders"].split(";")
        if (
            not all(_HEADER_NAME.fullmatch(name) for name in signed)
            or signed != sorted(set(signed))
            or "host" not in signed
        ):
            raise IncompleteSignatureException(
                "SignedHeaders must be sorted lowercase header names and include host."
            )
        if not _HEX64.fullmatch(fields["Signature"]):
            raise IncompleteSignatureException("The signature is 64 lowercase hex digits.")
        amz_date, moment = _request_time(request)
        credential = self._credentials.get(akid)
        if credential is None:
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        if service != SERVICE:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{SERVICE}'."
            )
        if date != amz_date[:8]:
            raise InvalidSignatureException(
                "Credential should be scoped to a valid date; the scope's date is not the "
                "date of X-Amz-Date."
            )
        if abs(now - moment) > self._max_skew:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than {_stamp(now - self._max_skew)}"
                f" ({_stamp(now)} - 5 min.)"
                if moment < now
                else f"Signature not yet current: {amz_date} is still later than "
                f"{_stamp(now + self._max_skew)} ({_stamp(now)} + 5 min.)"
            )
        body_hash = hashlib.sha256(request.body).hexdigest()
        declared = request.header_values("x-amz-content-sha256")
        if declared and (len(declared) != 1 or declared[0].strip() != body_hash):
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        canonical = canonical_request(request, signed, body_hash)
        expected = signature(credential.secret_access_key, amz_date, region, service, canonical)
        if not hmac.compare_digest(expected, fields["Signature"]):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."
            )
        return Principal(credential.principal, akid)
