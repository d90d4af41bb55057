"""SigV4 verification: against requests botocore itself signs, and end to end through
boto3 (a wrong secret, an unknown key, a stale date, a tampered body, no signature)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.agentcore.sigv4 import (
    Credential,
    SignedRequest,
    Verifier,
    parse_credentials,
    sign,
)
from proctor.reference.agentcore.wire import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

from .conftest import (
    ADMIN_KEY,
    ADMIN_SECRET,
    GHOST_KEY,
    GHOST_SECRET,
    REGION,
    Clients,
    LiveServer,
    client,
    make_service,
)

KEY = "AKIDEXAMPLE00000001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
VERIFIER = Verifier([Credential(KEY, SECRET, "admin")])


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    key: str = KEY,
    secret: str = SECRET,
    service: str = "bedrock-agentcore",
    headers: dict[str, str] | None = None,
) -> tuple[SignedRequest, float]:
    """A request signed by botocore's own SigV4 signer, as the server receives it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    request.headers["Content-Type"] = "application/json"
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(request)
    parts = urlsplit(url)
    sent = [(k.lower(), str(v)) for k, v in request.headers.items()]
    sent.append(("host", parts.netloc))
    moment = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    when = moment.replace(tzinfo=datetime.UTC).timestamp()
    return SignedRequest(method, parts.path, parts.query, sent, body), when


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "http://127.0.0.1:8700/identities/CreateWorkloadIdentity", b'{"name":"a"}'),
        ("POST", "http://localhost/identities/get-token-vault", b""),
        (
            "GET",
            "http://127.0.0.1:9/tags/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A1%3Ax%2Fy",
            b"",
        ),
        ("DELETE", "http://127.0.0.1:9/tags/abc?tagKeys=b%20c&tagKeys=a%2Fd&tagKeys=~z", b""),
    ],
)
def test_accepts_what_botocore_signs(method: str, url: str, body: bytes) -> None:
    request, when = botocore_signed(method, url, body)
    principal = VERIFIER.verify(request, when + 30)
    assert principal.is_admin
    assert principal.access_key_id == KEY


def test_own_signer_agrees_with_botocore() -> None:
    request, _ = botocore_signed("POST", "http://127.0.0.1:1/identities/X", b"{}")
    ours = sign(
        request,
        access_key_id=KEY,
        secret=SECRET,
        amz_date=dict(request.headers)["x-amz-date"],
        region=REGION,
        signed_headers=("content-type", "host", "x-amz-date"),
    )
    assert ours == dict(request.headers)["authorization"]


def test_wrong_secret() -> None:
    request, when = botocore_signed("POST", "http://h/identities/X", b"{}", secret="nope" * 10)
    with pytest.raises(InvalidSignatureException, match="does not match"):
        VERIFIER.verify(request, when)


def test_unknown_access_key() -> None:
    request, when = botocore_signed("POST", "http://h/identities/X", b"{}", key="AKIDUNKNOWN")
    with pytest.raises(UnrecognizedClientException):
        VERIFIER.verify(request, when)


@pytest.mark.parametrize("skew", [-301, 301, 3600])
def test_stale_or_future_dates(skew: int) -> None:
    request, when = botocore_signed("POST", "http://h/identities/X", b"{}")
    with pytest.raises(InvalidSignatureException, match=r"Signature (expired|not yet current)"):
        VERIFIER.verify(request, when + skew)
    VERIFIER.verify(request, when + (300 if skew > 0 else -300))


def test_tampered_body_and_payload_hash() -> None:
    request, when = botocore_signed("POST", "http://h/identities/X", b'{"name":"a"}')
    tampered = SignedRequest(
        request.method, request.raw_path, request.raw_query, request.headers, b'{"name":"b"}'
    )
    with pytest.raises(InvalidSignatureException, match="does not match"):
        VERIFIER.verify(tampered, when)
    declared = hashlib.sha256(b"other").hexdigest()
    with_hash, when = botocore_signed(
        "POST", "http://h/identities/X", b"{}", headers={"X-Amz-Content-SHA256": declared}
    )
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        VERIFIER.verify(with_hash, when)


def test_tampered_path_query_or_header() -> None:
    request, when = botocore_signed("GET", "http://h/tags/abc?tagKeys=a", b"")
    for changed in (
        SignedRequest("GET", "/tags/abd", request.raw_query, request.headers, b""),
        SignedRequest("GET", request.raw_path, "tagKeys=b", request.headers, b""),
        SignedRequest("DELETE", request.raw_path, request.raw_query, request.headers, b""),
        SignedRequest(
            "GET",
            request.raw_path,
            request.raw_query,
            [(k, "other:1" if k == "host" else v) for k, v in request.headers],
            b"",
        ),
    ):
        with pytest.raises(InvalidSignatureException):
            VERIFIER.verify(changed, when)


def test_wrong_service_in_scope() -> None:
    request, when = botocore_signed("POST", "http://h/identities/X", b"{}", service="s3")
    with pytest.raises(InvalidSignatureException, match="correct service"):
        VERIFIER.verify(request, when)


def test_missing_and_malformed_authorization() -> None:
    bare = SignedRequest("POST", "/identities/X", "", [("host", "h")], b"{}")
    with pytest.raises(MissingAuthenticationTokenException):
        VERIFIER.verify(bare, 0)
    for header in (
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
        "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20260101/r/bedrock-agentcore/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20260101/r/bedrock-agentcore/aws4_request, "
        "SignedHeaders=host, Signature=short",
    ):
        malformed = SignedRequest(
            "POST", "/identities/X", "", [("host", "h"), ("authorization", header)], b"{}"
        )
        with pytest.raises(IncompleteSignatureException):
            VERIFIER.verify(malformed, 0)
    # a valid-looking header without X-Amz-Date
    no_date = SignedRequest(
        "POST",
        "/identities/X",
        "",
        [
            ("host", "h"),
            (
                "authorization",
                f"AWS4-HMAC-SHA256 Credential={KEY}/20260101/r/bedrock-agentcore/aws4_request,"
                " SignedHeaders=host, Signature=" + "0" * 64,
            ),
        ],
        b"{}",
    )
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        VERIFIER.verify(no_date, 0)


def test_dev_mode_accepts_anything() -> None:
    dev = Verifier([], dev_mode=True)
    bare = SignedRequest("POST", "/identities/X", "", [("host", "h")], b"{}")
    assert dev.verify(bare, 0).is_admin


def test_credentials_setting() -> None:
    table = parse_credentials(
        " AKID1234:secret-secret-secret:admin ,AKID5678:secret-1234567890:w-1"
    )
    assert table["AKID1234"].principal == "admin"
    assert table["AKID5678"].principal == "w-1"
    assert "secret" not in repr(table)
    for bad in (
        "AKID1234:secret-secret-secret",
        "AK:secret-secret-secret:admin",
        "AKID1234:short:admin",
        "AKID1234:secret-secret-secret:not a name!",
        "AKID1234:secret-secret-secret:admin,AKID1234:secret-secret-secret:admin",
    ):
        with pytest.raises(ValueError, match="AgentCore credential") as excinfo:
            parse_credentials(bad)
        assert "secret-secret" not in str(excinfo.value)


# -- end to end through boto3 ------------------------------------------------------------


pytest_network = pytest.mark.network


@pytest_network
def test_boto3_wrong_secret_unknown_key_and_unsigned(aws: Clients, service: Service) -> None:
    wrong = client("bedrock-agentcore-control", aws.endpoint, ADMIN_KEY, "x" * 40)
    with pytest.raises(ClientError) as excinfo:
        wrong.list_workload_identities()
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    stranger = client("bedrock-agentcore-control", aws.endpoint, "AKIDSTRANGER0001", "y" * 40)
    with pytest.raises(ClientError) as excinfo:
        stranger.list_workload_identities()
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"
    unsigned = client("bedrock-agentcore-control", aws.endpoint, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as excinfo:
        unsigned.list_workload_identities()
    assert excinfo.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    # a key whose workload does not exist
    ghost = client("bedrock-agentcore", aws.endpoint, GHOST_KEY, GHOST_SECRET)
    with pytest.raises(ghost.exceptions.AccessDeniedException):
        ghost.get_workload_access_token(workloadName="nobody-here")
    denials = [e for e in service.audit.query(operation="workload.list").items]
    assert [(e.decision, e.reason) for e in denials] == [("deny", "unauthenticated")] * 3


@pytest_network
def test_boto3_tampered_body(aws: Clients) -> None:
    cp = client("bedrock-agentcore-control", aws.endpoint)

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"honest", b"forged")

    cp.meta.events.register("before-send.bedrock-agentcore-control.CreateWorkloadIdentity", tamper)
    with pytest.raises(ClientError) as excinfo:
        cp.create_workload_identity(name="honest")
    assert excinfo.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(aws.cp.exceptions.ResourceNotFoundException):
        aws.cp.get_workload_identity(name="forged")


@pytest.fixture
def skewed(tmp_path: Path, okta: MockIdp, now: float) -> Iterator[str]:
    """A service whose clock is ten minutes ahead of the wall clock botocore signs with."""
    service, http = make_service(tmp_path, ManualClock(now + 600), okta)
    try:
        with LiveServer(service.asgi_app()) as url:
            yield url
    finally:
        service.close()
        http.close()


@pytest_network
def test_boto3_stale_signature(skewed: str) -> None:
    cp = client("bedrock-agentcore-control", skewed)
    with pytest.raises(ClientError) as excinfo:
        cp.get_token_vault()
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"].startswith("Signature expired")


@pytest_network
def test_boto3_dev_mode_accepts_dummy_and_unsigned(
    tmp_path: Path, okta: MockIdp, clock: ManualClock
) -> None:
    service, http = make_service(
        tmp_path, clock, okta, agentcore_credentials=None, agentcore_dev_mode=True
    )
    try:
        with LiveServer(service.asgi_app()) as url:
            dummy = client("bedrock-agentcore-control", url, "AKIDDUMMY", "dummy")
            assert dummy.create_workload_identity(name="dev")["name"] == "dev"
            unsigned = client("bedrock-agentcore-control", url, signature_version=UNSIGNED)
            assert unsigned.get_workload_identity(name="dev")["name"] == "dev"
    finally:
        service.close()
        http.close()


@pytest_network
def test_without_credentials_everything_is_refused(
    tmp_path: Path, okta: MockIdp, clock: ManualClock
) -> None:
    service, http = make_service(tmp_path, clock, okta, agentcore_credentials=None)
    try:
        with LiveServer(service.asgi_app()) as url:
            cp = client("bedrock-agentcore-control", url, ADMIN_KEY, ADMIN_SECRET)
            with pytest.raises(ClientError) as excinfo:
                cp.get_token_vault()
            assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"
    finally:
        service.close()
        http.close()


def test_settings_from_the_environment() -> None:
    from proctor.reference.agentcore.arns import ArnFactory
    from proctor.reference.settings import Settings

    settings = Settings.from_env(
        {
            "PROCTOR_AGENTCORE_CREDENTIALS": "AKID1234:secret-secret-secret:admin",
            "PROCTOR_AGENTCORE_DEV_MODE": "true",
            "PROCTOR_AGENTCORE_REGION": "eu-central-1",
            "PROCTOR_AGENTCORE_ACCOUNT_ID": "111122223333",
        }
    )
    assert settings.agentcore_dev_mode is True
    assert settings.agentcore_credentials is not None
    assert parse_credentials(settings.agentcore_credentials)["AKID1234"].principal == "admin"
    assert "secret-secret" not in repr(settings)
    arns = ArnFactory(settings.agentcore_region, settings.agentcore_account_id)
    assert arns.workload_identity("w").startswith("arn:aws:bedrock-agentcore:eu-central-1:1111")
    with pytest.raises(ValueError, match="region"):
        ArnFactory("not a region", "111122223333")
    with pytest.raises(ValueError, match="12 digits"):
        ArnFactory("us-east-1", "12")
