"""Driving an AgentCore Identity target through boto3 (profile ``agentcore``).

The kit speaks the AgentCore wire API with the AWS SDK itself, so what it checks is what
an agent built on boto3 or the ``bedrock-agentcore`` SDK experiences: two clients,
``bedrock-agentcore`` (data plane) and ``bedrock-agentcore-control`` (control plane), both
signing with SigV4 under the signing name ``bedrock-agentcore``, pointed at the endpoint
URLs of the target config (``agentcore:`` section, :class:`~proctor.conformance.config.
AgentCoreTarget`).

- **boto3 is optional** (extra ``agentcore``) and imported lazily here: without it every
  ``agentcore`` check is SKIPPED with :data:`BOTO3_MISSING`, never passed.
- **Every request goes through the kit's recording client.** A ``before-send`` handler
  hands botocore's signed request to :attr:`Target.client <proctor.conformance.target.
  Target.client>` and gives botocore the answer, so each exchange is redacted evidence of
  the check that made it, the config's timeout and TLS settings apply, and an in-process
  target works like a remote one. Retries are off: the kit judges the first answer.
- **Errors** are decoded as botocore decodes them (``X-Amzn-ErrorType``, then the body's
  ``code`` or ``__type``) into :class:`AwsError`; :meth:`AgentCore.fails` expects one and
  says whether botocore raised the *modeled* exception class.
- **Provisioning** uses the AgentCore control plane only (:class:`AgentCoreRun`): workload
  identities and credential providers named ``conf-<run id>-...``, deleted at the end;
  the OAuth client at the kit's mock OAuth provider through its ``/_mock`` admin API; the
  user's browser is the kit's own HTTP client, with the mock provider in headless mode.
  What the AgentCore control plane cannot express (a workload that trusts the kit's mock
  IdP for ``GetWorkloadAccessTokenForJWT``) is set up by the operator:
  :func:`setup_lines` says what.
"""

from __future__ import annotations

import importlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Final, Literal
from urllib.parse import parse_qs, quote, quote_plus, urljoin, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from proctor.conformance.config import AwsCredentials, TargetConfig
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure, ControlFailed, InfrastructureError
from proctor.conformance.idps import MockIdp
from proctor.conformance.target import Target

__all__ = [
    "BOTO3_MISSING",
    "CONTROL_PLANE",
    "DATA_PLANE",
    "SIGNING_NAME",
    "VALIDATION_REASONS",
    "AgentCore",
    "AgentCoreRun",
    "AwsError",
    "Plane",
    "load_botocore",
    "setup_lines",
]

BOTO3_MISSING: Final = "boto3 not installed (pip install proctor[agentcore])"
DATA_PLANE: Final = "bedrock-agentcore"
CONTROL_PLANE: Final = "bedrock-agentcore-control"
#: Both planes sign with this name (the botocore models' ``signingName``).
SIGNING_NAME: Final = "bedrock-agentcore"
#: ``ValidationException.reason`` (the model's enum).
VALIDATION_REASONS: Final = frozenset(
    {
        "CannotParse",
        "FieldValidationFailed",
        "IdempotentParameterMismatchException",
        "EventInOtherSession",
        "ResourceConflict",
    }
)
#: Credentials the kit signs with when the target declares ``dev_mode`` and none are set.
DEV_ACCESS_KEY: Final = "AKIDPROCTORCONFORM01"
ADMIN: Final = "admin"
PREFIX: Final = "conf"

Plane = Literal["data", "control"]


def load_botocore() -> dict[str, ModuleType]:
    """boto3 and the botocore modules the kit uses; SKIP the check if boto3 is missing."""
    try:
        return {
            "session": importlib.import_module("boto3.session"),
            "config": importlib.import_module("botocore.config"),
            "exceptions": importlib.import_module("botocore.exceptions"),
            "awsrequest": importlib.import_module("botocore.awsrequest"),
            "botocore": importlib.import_module("botocore"),
        }
    except ImportError:
        pytest.skip(BOTO3_MISSING)


# -- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsError:
    """A refused request, as botocore decoded it."""

    code: str
    status: int
    message: str
    modeled: bool
    exception: str
    request_id: str
    reason: Any = None
    field_list: Any = None
    body: str = ""

    def __str__(self) -> str:
        extra = f", reason {self.reason!r}" if self.reason is not None else ""
        return f"HTTP {self.status} {self.code}{extra}: {self.message[:200]}"

    def names(self) -> list[str]:
        """The ``name`` of every well-formed ``fieldList`` entry."""
        if not isinstance(self.field_list, list):
            return []
        return [
            str(item["name"])
            for item in self.field_list
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        ]


class _Raw:
    """What botocore reads a response body from (``AWSResponse.raw.stream()``)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._content


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return bytes(body)


def _text(value: Any) -> str:
    """A header name or value as botocore keeps it (``bytes`` once signed)."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


# -- clients -----------------------------------------------------------------------------


class AgentCore:
    """boto3 clients for a target, every request recorded through ``target.client``.

    ``client(plane)`` signs as the admin principal (``agentcore.credentials``);
    ``client(plane, principal=name)`` with the credentials of workload principal ``name``;
    ``credentials=`` with any others (a wrong secret), ``unsigned=True`` without a
    signature, ``validate=False`` without botocore's client-side parameter validation (to
    send what the SDK would refuse), and ``tamper`` rewrites the body after signing.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.settings = target.config.agentcore
        self.bc = load_botocore()
        self.last: httpx.Response | None = None
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._session = self.bc["session"].Session()  # one model loader for every client

    @property
    def dev_mode(self) -> bool:
        return self.settings.dev_mode

    def endpoint(self, plane: Plane) -> str:
        chosen = self.settings.data_endpoint if plane == "data" else self.settings.control_endpoint
        return chosen or self.target.base_url

    def admin_credentials(self) -> AwsCredentials:
        if self.settings.credentials is not None:
            return self.settings.credentials
        if self.dev_mode:
            return AwsCredentials(
                access_key_id=DEV_ACCESS_KEY,
                secret_access_key=SecretStr("dev-mode-" + "0" * 24),
            )
        raise InfrastructureError(
            "no agentcore.credentials in the target config (and the target does not declare "
            "agentcore.dev_mode)"
        )

    def principal_credentials(self, name: str) -> AwsCredentials:
        found = self.settings.workload_principals.get(name)
        if found is None:
            raise InfrastructureError(f"no agentcore.workload_principals.{name} in the config")
        return found

    def client(
        self,
        plane: Plane,
        *,
        principal: str = ADMIN,
        credentials: AwsCredentials | None = None,
        unsigned: bool = False,
        validate: bool = True,
        tamper: Callable[[bytes], bytes] | None = None,
        before_sign: Callable[[Any], None] | None = None,
    ) -> Any:
        cacheable = credentials is None and tamper is None and before_sign is None
        key = (plane, principal, unsigned, validate)
        if cacheable and key in self._clients:
            return self._clients[key]
        if credentials is None:
            credentials = (
                self.admin_credentials()
                if principal == ADMIN
                else self.principal_credentials(principal)
            )
        config_module = self.bc["config"]
        options: dict[str, Any] = {
            "retries": {"total_max_attempts": 1, "mode": "standard"},
            "parameter_validation": validate,
            "connect_timeout": self.target.config.timeout,
            "read_timeout": self.target.config.timeout,
        }
        if unsigned:
            options["signature_version"] = self.bc["botocore"].UNSIGNED
        service = DATA_PLANE if plane == "data" else CONTROL_PLANE
        made = self._session.client(
            service,
            endpoint_url=self.endpoint(plane),
            region_name=self.settings.region,
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key.get_secret_value(),
            aws_session_token=(
                credentials.session_token.get_secret_value() if credentials.session_token else None
            ),
            config=config_module.Config(**options),
        )
        signing = made.meta.service_model.signing_name
        if signing != SIGNING_NAME:
            raise InfrastructureError(
                f"botocore's {service} model signs as {signing!r}, not {SIGNING_NAME!r}"
            )
        if before_sign is not None:
            made.meta.events.register("before-sign", lambda request, **_: before_sign(request))
        made.meta.events.register("before-send", self._sender(tamper))
        if cacheable:
            self._clients[key] = made
        return made

    def data(self, principal: str = ADMIN) -> Any:
        return self.client("data", principal=principal)

    def control(self, principal: str = ADMIN) -> Any:
        return self.client("control", principal=principal)

    def _sender(self, tamper: Callable[[bytes], bytes] | None) -> Callable[..., Any]:
        awsresponse = self.bc["awsrequest"]

        def send(request: Any, **_: Any) -> Any:
            body = _body_bytes(request.body)
            if tamper is not None:
                body = tamper(body)
            headers = [
                (_text(name), _text(value))
                for name, value in request.headers.items()
                if _text(name).lower() != "content-length"
            ]
            try:
                response = self.target.client.request(
                    request.method, request.url, headers=headers, content=body
                )
            except httpx.HTTPError as error:
                raise InfrastructureError(
                    f"{request.method} {urlsplit(request.url).path}: {type(error).__name__}"
                ) from None
            self.last = response
            return awsresponse.AWSResponse(
                str(response.url),
                response.status_code,
                dict(response.headers.items()),
                _Raw(response.content),
            )

        return send

    # -- calling, and judging the answer -------------------------------------------------

    def last_json(self) -> dict[str, Any]:
        """The raw JSON object of the last response (what botocore parsed)."""
        if self.last is None:
            raise InfrastructureError("no response recorded")
        try:
            found = json.loads(self.last.content or b"{}")
        except ValueError:
            raise ConformanceFailure(
                "the response body is not JSON", observed=self.last.text[:200]
            ) from None
        if not isinstance(found, dict):
            raise ConformanceFailure("the response body is not a JSON object")
        return found

    def decode(self, client: Any, error: Exception) -> AwsError:
        response: Mapping[str, Any] = getattr(error, "response", {}) or {}
        err = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        code = str(err.get("Code", ""))
        modeled_class = client.exceptions.from_code(code)
        base = self.bc["exceptions"].ClientError
        return AwsError(
            code=code,
            status=int(meta.get("HTTPStatusCode", 0)),
            message=str(err.get("Message", "")),
            modeled=modeled_class is not base and isinstance(error, modeled_class),
            exception=type(error).__name__,
            request_id=str(meta.get("RequestId", "")),
            reason=response.get("reason"),
            field_list=response.get("fieldList"),
            body=self.last.text[:500] if self.last is not None else "",
        )

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        """``client.<operation>(**params)``, which must succeed."""
        exceptions = self.bc["exceptions"]
        try:
            result: dict[str, Any] = getattr(client, operation)(**params)
        except exceptions.ClientError as error:
            raise ConformanceFailure(
                f"{operation} must succeed", observed=str(self.decode(client, error))
            ) from None
        except exceptions.ResponseParserError as error:
            raise ConformanceFailure(
                f"botocore cannot parse the answer to {operation}", observed=str(error)[:300]
            ) from None
        return result

    def fails(self, client: Any, operation: str, **params: Any) -> AwsError:
        """``client.<operation>(**params)``, which must be refused (HTTP 4xx): the decoded
        error. This is the refusal half of a negative check (CONF-CTRL-002)."""
        exceptions = self.bc["exceptions"]
        try:
            result = getattr(client, operation)(**params)
        except exceptions.ClientError as error:
            found = self.decode(client, error)
        except exceptions.ResponseParserError as error:
            raise ConformanceFailure(
                f"botocore cannot parse the answer to {operation}", observed=str(error)[:300]
            ) from None
        else:
            status = result.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise ConformanceFailure(f"{operation} must be refused", observed=f"HTTP {status}")
        if found.status >= 500:
            raise ConformanceFailure(
                f"{operation} must be refused, not fail (a 5xx is no refusal)",
                observed=str(found),
            )
        return found

    def expect(
        self,
        client: Any,
        operation: str,
        codes: tuple[str, ...],
        why: str,
        **params: Any,
    ) -> AwsError:
        """The request must be refused (:meth:`fails`) with one of ``codes``, raised as
        the modeled class when the code is one the model declares (its error shape,
        judged in :func:`~proctor.conformance.error_shape.error_shape`)."""
        found = self.fails(client, operation, **params)
        with error_shape():
            self._shape(client, found, codes, why)
        return found

    def _shape(self, client: Any, found: AwsError, codes: tuple[str, ...], why: str) -> None:
        if found.code not in codes:
            raise ConformanceFailure(why, expected=" or ".join(codes), observed=str(found))
        declared = client.exceptions.from_code(found.code) is not self.bc["exceptions"].ClientError
        if declared and not found.modeled:
            raise ConformanceFailure(
                f"botocore did not raise the modeled {found.code} class",
                observed=found.exception,
            )

    def validation(
        self, client: Any, operation: str, member: str, why: str, **params: Any
    ) -> AwsError:
        """A refusal whose shape is a ``ValidationException`` with a ``reason`` from the
        model's enum and a ``fieldList`` whose entries (``name``, ``message``) name
        ``member``."""
        found = self.fails(client, operation, **params)
        with error_shape():
            self._shape(client, found, ("ValidationException",), why)
            self._validation_shape(found, member)
        return found

    @staticmethod
    def _validation_shape(found: AwsError, member: str) -> None:
        if found.status != 400:
            raise ConformanceFailure("ValidationException is HTTP 400", observed=str(found))
        if found.reason not in VALIDATION_REASONS:
            raise ConformanceFailure(
                "ValidationException must carry a reason from the model's enum",
                expected=", ".join(sorted(VALIDATION_REASONS)),
                observed=repr(found.reason),
            )
        entries = found.field_list
        if not isinstance(entries, list) or not entries:
            raise ConformanceFailure(
                "ValidationException must list the offending field in fieldList",
                expected=f"fieldList naming {member}",
                observed=repr(entries),
            )
        for item in entries:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("name"), str)
                and isinstance(item.get("message"), str)
                and item["message"]
            ):
                raise ConformanceFailure(
                    "every fieldList entry has a name and a message", observed=repr(item)
                )
        if not any(member.lower() in name.lower() for name in found.names()):
            raise ConformanceFailure(
                f"fieldList must name {member}", observed=", ".join(found.names())
            )

    @contextmanager
    def bracket(self, description: str, control: Callable[[], object]) -> Iterator[None]:
        """A positive control (CONF-CTRL-001): ``control`` must succeed before and after."""

        def verify(when: str) -> None:
            try:
                control()
            except (ConformanceFailure, self.bc["exceptions"].ClientError) as error:
                raise ControlFailed(
                    f"positive control {description!r} failed {when} the check: {error}; "
                    "the check's verdict is void"
                ) from None

        verify("before")
        try:
            yield
        finally:
            verify("after")


# -- provisioning through the AgentCore control plane -------------------------------------


@dataclass
class OAuthSetup:
    """A credential provider at the target for the kit's mock OAuth provider."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    callback_url: str
    scopes: list[str]
    introspection: str | None


@dataclass(frozen=True)
class BrowserResult:
    """Where the target's callback sent the user's browser."""

    status: int
    location: str
    query: dict[str, list[str]]

    @property
    def session_id(self) -> str | None:
        values = self.query.get("session_id")
        return values[0] if values else None


class AgentCoreRun:
    """Everything one run creates on the target and at the mock provider; :meth:`close`
    deletes it."""

    def __init__(self, target: Target, *, run_id: str | None = None) -> None:
        self.target = target
        self.ac = AgentCore(target)
        self.run_id = run_id or secrets.token_hex(4)
        self.prefix = f"{PREFIX}-{self.run_id}-"
        self._workloads: list[str] = []
        self._oauth: list[str] = []
        self._api_keys: list[str] = []
        self._undo: list[Callable[[], object]] = []
        self._oauth_setup: OAuthSetup | None = None
        self._principals_ready = False

    def name(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    # -- workload identities -------------------------------------------------------------

    def workload(self, suffix: str, *, return_urls: list[str] | None = None) -> str:
        name = self.name(suffix)
        self.create_workload(name, return_urls or [])
        return name

    def ensure_workload(self, suffix: str, return_urls: list[str]) -> str:
        """The run's workload ``suffix``, created on first use."""
        name = self.name(suffix)
        if name not in self._workloads:
            self.create_workload(name, return_urls)
        return name

    def create_workload(self, name: str, return_urls: list[str]) -> dict[str, Any]:
        created = self.ac.call(
            self.ac.control(),
            "create_workload_identity",
            name=name,
            allowedResourceOauth2ReturnUrls=return_urls,
        )
        self._workloads.append(name)
        return created

    def forget_workload(self, name: str) -> None:
        if name in self._workloads:
            self._workloads.remove(name)

    def principals(self) -> list[str]:
        """The configured workload principals' workload identities, created (fresh) here."""
        names = sorted(self.ac.settings.workload_principals)
        if len(names) < 2:
            raise InfrastructureError(
                "agentcore.workload_principals needs two workloads (their names and keys)"
            )
        if not self._principals_ready:
            for name in names:
                self._delete_quietly("delete_workload_identity", name)
                self.create_workload(name, [])
            self._principals_ready = True
        return names

    def ensure_return_url(self, workload: str, url: str) -> None:
        """Register ``url`` on an operator's workload identity; put the list back later."""
        control = self.ac.control()
        found = self.ac.call(control, "get_workload_identity", name=workload)
        urls = list(found.get("allowedResourceOauth2ReturnUrls") or [])
        if url in urls:
            return
        self.ac.call(
            control,
            "update_workload_identity",
            name=workload,
            allowedResourceOauth2ReturnUrls=[*urls, url],
        )
        self._undo.append(
            lambda: self.ac.call(
                control, "update_workload_identity", name=workload,
                allowedResourceOauth2ReturnUrls=urls,
            )
        )  # fmt: skip

    def wat(self, workload: str, *, principal: str = ADMIN, user_id: str | None = None) -> str:
        data = self.ac.data(principal)
        if user_id is None:
            found = self.ac.call(data, "get_workload_access_token", workloadName=workload)
        else:
            found = self.ac.call(
                data,
                "get_workload_access_token_for_user_id",
                workloadName=workload,
                userId=user_id,
            )
        return self._token(found)

    def wat_for_jwt(self, workload: str, user_token: str) -> str:
        found = self.ac.call(
            self.ac.data(),
            "get_workload_access_token_for_jwt",
            workloadName=workload,
            userToken=user_token,
        )
        return self._token(found)

    def _token(self, found: Mapping[str, Any]) -> str:
        token = found.get("workloadAccessToken")
        if not isinstance(token, str) or not token:
            raise ConformanceFailure("the answer has no workloadAccessToken")
        self.target.add_secret(token)
        return token

    # -- credential providers ------------------------------------------------------------

    def api_key_provider(self, suffix: str, key: str, workloads: list[str]) -> str:
        """An API-key provider; ``proctor:allowed-workloads`` names who may use it (a tag
        other targets keep as a plain tag)."""
        name = self.name(suffix)
        self.target.add_secret(key)
        self.ac.call(
            self.ac.control(),
            "create_api_key_credential_provider",
            name=name,
            apiKey=key,
            tags={"proctor:allowed-workloads": " ".join(workloads)} if workloads else {},
        )
        self._api_keys.append(name)
        return name

    def forget_api_key_provider(self, name: str) -> None:
        if name in self._api_keys:
            self._api_keys.remove(name)

    def static_oauth_provider(self, suffix: str, secret: str) -> str:
        """An OAuth2 provider with explicit endpoints that is never called upstream."""
        name = self.name(suffix)
        self.target.add_secret(secret)
        self.ac.call(
            self.ac.control(),
            "create_oauth2_credential_provider",
            name=name,
            credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput=static_config(secret),
        )
        self._oauth.append(name)
        return name

    def forget_oauth_provider(self, name: str) -> None:
        if name in self._oauth:
            self._oauth.remove(name)

    def oauth(self) -> OAuthSetup:
        """The mock OAuth provider as a credential provider of the target (created once):
        a fresh client at the mock (redirect URI: the provider's ``callbackUrl``), the
        mock in headless mode so the kit's browser is approved at once."""
        if self._oauth_setup is not None:
            return self._oauth_setup
        mock = self.mock_provider()
        summary = mock.summary()
        server = mock.server()
        metadata = server.endpoints.get("oauth_authorization_server") or server.endpoints.get(
            "openid_configuration"
        )
        if not metadata:
            raise InfrastructureError("the mock OAuth provider publishes no metadata document")
        scopes = [
            str(scope) for api in mock.config().get("apis") or [] for scope in api.get("scopes", [])
        ]
        if not scopes:
            raise InfrastructureError("the mock OAuth provider has no API with scopes")
        users = mock.users()
        if not users:
            raise InfrastructureError("the mock OAuth provider has no users")
        name = self.name("oauth")
        client_id = self.name("client")
        client_secret = "conf-" + secrets.token_urlsafe(24)
        self.target.add_secret(client_secret)
        created = self.ac.call(
            self.ac.control(),
            "create_oauth2_credential_provider",
            name=name,
            credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={
                "customOauth2ProviderConfig": {
                    "oauthDiscovery": {"discoveryUrl": metadata},
                    "clientId": client_id,
                    "clientSecret": client_secret,
                }
            },
            tags={"proctor:scopes": " ".join(scopes)},
        )
        self._oauth.append(name)
        callback = created.get("callbackUrl")
        if not isinstance(callback, str) or not callback:
            raise ConformanceFailure("CreateOauth2CredentialProvider returned no callbackUrl")
        self._mock_admin(
            mock,
            "PUT",
            f"/clients/{quote(client_id, safe='')}",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "name": "proctor conformance kit",
                "redirect_uris": [callback],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "require_pkce": True,
                "consent": False,
            },
        )
        self._undo.append(
            lambda: self._mock_admin(mock, "DELETE", f"/clients/{quote(client_id, safe='')}")
        )
        previous = summary.get("headless_user")
        headless_user = str(users[0]["username"])
        if previous != headless_user:
            self._mock_admin(mock, "PUT", "/headless", {"user": headless_user})
            self._undo.append(
                lambda: self._mock_admin(mock, "PUT", "/headless", {"user": previous})
            )
        self._oauth_setup = OAuthSetup(
            name=name,
            client_id=client_id,
            client_secret=client_secret,
            callback_url=callback,
            scopes=scopes,
            introspection=server.endpoints.get("introspect"),
        )
        return self._oauth_setup

    def mock_provider(self) -> MockIdp:
        url = self.ac.settings.oauth_provider
        if url is None:
            raise InfrastructureError("no agentcore.oauth_provider (the kit's mock OAuth provider)")
        return MockIdp("oauth_provider", url, self.target.client)

    def _mock_admin(
        self, mock: MockIdp, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> None:
        url = f"{mock.origin}/_mock{path}"
        try:
            response = self.target.client.request(method, url, json=body)
        except httpx.HTTPError as error:
            raise InfrastructureError(f"{method} {url}: {type(error).__name__}") from None
        if not response.is_success and not (method == "DELETE" and response.status_code == 404):
            raise InfrastructureError(
                f"{method} {url} answered HTTP {response.status_code}: {response.text[:200]}"
            )

    def token_is_active(self, setup: OAuthSetup, token: str) -> bool:
        """RFC 7662 introspection of ``token`` at the mock provider, as its client."""
        if setup.introspection is None:
            raise InfrastructureError("the mock OAuth provider has no introspection endpoint")
        response = self.target.client.post(
            setup.introspection,
            data={"token": token},
            auth=(quote_plus(setup.client_id), quote_plus(setup.client_secret)),
        )
        if response.status_code != 200:
            raise InfrastructureError(f"introspection answered HTTP {response.status_code}")
        return response.json().get("active") is True

    # -- the user's browser --------------------------------------------------------------

    def consent(self, authorization_url: str) -> BrowserResult:
        """Follow ``authorization_url`` (the mock approves at once) to the target's
        callback, which must redirect to the return URL."""
        at_provider = self.target.client.get(authorization_url)
        if at_provider.status_code not in (302, 303) or "location" not in at_provider.headers:
            raise InfrastructureError(
                f"the mock provider did not approve the authorization request "
                f"(HTTP {at_provider.status_code}); is it in headless mode?"
            )
        return self.callback(urljoin(authorization_url, at_provider.headers["location"]))

    def callback(self, url: str) -> BrowserResult:
        response = self.target.client.get(url)
        location = response.headers.get("location", "")
        target = urljoin(url, location) if location else ""
        return BrowserResult(response.status_code, target, parse_qs(urlsplit(target).query))

    def refuse(self, authorization_url: str, error: str = "access_denied") -> BrowserResult:
        """The provider redirects back with ``error`` (the user said no): the kit's browser
        goes to the request's ``redirect_uri`` with the request's ``state``."""
        query = parse_qs(urlsplit(authorization_url).query)
        redirect = (query.get("redirect_uri") or [""])[0]
        state = (query.get("state") or [""])[0]
        if not redirect or not state:
            raise ConformanceFailure(
                "the authorizationUrl carries no redirect_uri or state (RFC 6749 §4.1.1)"
            )
        separator = "&" if "?" in redirect else "?"
        return self.callback(
            f"{redirect}{separator}error={quote_plus(error)}&state={quote_plus(state)}"
        )

    # -- users ---------------------------------------------------------------------------

    def user_idp(self) -> MockIdp:
        configured = self.ac.settings.user_idp
        issuers = self.target.idp_urls
        if configured is not None:
            issuer = issuers.get(configured)
            if issuer is None:
                raise InfrastructureError(f"agentcore.user_idp {configured!r} is not in mock_idps")
            return MockIdp(configured, issuer, self.target.client)
        if not issuers:
            raise InfrastructureError("no mock IdP configured (mock_idps.issuers)")
        name, issuer = next(iter(issuers.items()))
        return MockIdp(name, issuer, self.target.client)

    def user_tokens(self, count: int = 2, **mint: Any) -> list[str]:
        """Tokens of ``count`` different users of the user IdP (its primary server)."""
        idp = self.user_idp()
        users = [str(u["username"]) for u in idp.users()][:count]
        if len(users) < count:
            raise InfrastructureError(f"mock IdP {idp.name!r} has fewer than {count} users")
        tokens = [idp.mint(user=user, **mint).token for user in users]
        for token in tokens:
            self.target.add_secret(token)
        return tokens

    def jwt_workload(self) -> str:
        name = self.ac.settings.jwt_workload
        if name is None:
            raise InfrastructureError(
                "no agentcore.jwt_workload (a workload identity that trusts the mock IdP's "
                "user tokens; see proctor conform setup)"
            )
        return name

    # -- cleanup -------------------------------------------------------------------------

    def _delete_quietly(self, operation: str, name: str) -> None:
        exceptions = self.ac.bc["exceptions"]
        try:
            getattr(self.ac.control(), operation)(name=name)
        except exceptions.ClientError as error:
            if self.ac.decode(self.ac.control(), error).code != "ResourceNotFoundException":
                raise InfrastructureError(f"cleanup: {operation} {name}: {error}") from None

    def close(self) -> None:
        problems: list[str] = []
        for undo in reversed(self._undo):
            try:
                undo()
            except (InfrastructureError, ConformanceFailure) as error:
                problems.append(str(error))
        deletions = [
            *(("delete_oauth2_credential_provider", n) for n in self._oauth),
            *(("delete_api_key_credential_provider", n) for n in self._api_keys),
            *(("delete_workload_identity", n) for n in self._workloads),
        ]
        for operation, name in deletions:
            try:
                self._delete_quietly(operation, name)
            except InfrastructureError as error:
                problems.append(str(error))
        if problems:
            raise InfrastructureError("cleanup failed: " + "; ".join(problems))


def static_config(secret: str) -> dict[str, Any]:
    """A ``CustomOauth2`` config with explicit metadata and ``secret`` as client secret."""
    return {
        "customOauth2ProviderConfig": {
            "oauthDiscovery": {
                "authorizationServerMetadata": {
                    "issuer": "https://as.conformance.example",
                    "authorizationEndpoint": "https://as.conformance.example/authorize",
                    "tokenEndpoint": "https://as.conformance.example/token",
                }
            },
            "clientId": "conformance-client",
            "clientSecret": secret,
        }
    }


# -- what the operator sets up ------------------------------------------------------------


def setup_lines(config: TargetConfig) -> list[str]:
    """The ``agentcore`` part of ``proctor conform setup``: what the kit cannot create."""
    ac = config.agentcore
    url = config.url or "(url)"
    lines = [
        "## AgentCore (boto3)",
        "",
        "The kit drives both AgentCore planes with boto3 and creates what it needs through the "
        "control plane (and deletes it); only the items below are yours to provide.",
        "",
        f"- data plane `{ac.data_endpoint or url}`, control plane `{ac.control_endpoint or url}`,"
        f" region `{ac.region}`, SigV4 signing name `{SIGNING_NAME}`",
    ]
    if ac.credentials is not None:
        lines.append(
            f"- admin credentials `{ac.credentials.access_key_id}`: every identity operation "
            "of both planes"
        )
    elif ac.dev_mode:
        lines.append("- no credentials: the target accepts any signature (dev mode)")
    else:
        lines.append("- admin credentials: MISSING (`agentcore.credentials`)")
    if ac.dev_mode:
        lines.append("- dev mode: the SigV4 and workload-principal checks are SKIPPED")
    for name, keys in sorted(ac.workload_principals.items()):
        lines.append(
            f"- credentials `{keys.access_key_id}` limited to workload identity `{name}` "
            "(the kit deletes and re-creates that identity)"
        )
    idp = ac.user_idp or next(iter(config.mock_idps.issuers), None)
    issuer = config.mock_idps.issuers.get(idp or "", "(not configured)")
    if ac.jwt_workload:
        lines.append(
            f"- workload identity `{ac.jwt_workload}`, created by you, whose inbound authorizer "
            f"accepts the access tokens mock IdP `{idp}` ({issuer}) mints for its primary "
            "authorization server and its first two users (GetWorkloadAccessTokenForJWT, "
            "CompleteResourceTokenAuth with userToken); the kit adds "
            f"`{ac.return_url}` to its return URLs for the run and removes it afterwards"
        )
    else:
        lines.append(
            "- no `agentcore.jwt_workload`: the GetWorkloadAccessTokenForJWT checks end in ERROR "
            "if `inbound_authorization` is declared"
        )
    if ac.oauth_provider:
        lines.append(
            f"- the kit's mock OAuth provider at `{ac.oauth_provider}` must be reachable from the "
            "target; the kit registers its own client there and a CustomOauth2 provider at the "
            "target (tag `proctor:scopes`), then deletes both"
        )
    else:
        lines.append("- no `agentcore.oauth_provider`: M2M and 3-legged checks end in ERROR")
    lines.append(
        f"- return URL `{ac.return_url}` (registered on the kit's workload identities; nothing "
        "needs to listen there, the kit reads the redirect)"
    )
    lines.append(
        "- created and deleted by the kit through the control plane: workload identities and "
        f"credential providers named `{PREFIX}-<run id>-...`"
    )
    return lines
