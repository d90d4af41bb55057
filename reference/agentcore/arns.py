"""The ARNs the AgentCore Identity API returns, for a configured region and account.

proctor has no AWS account; the ARNs only name proctor's objects in the shapes AWS uses,
so that clients that parse or match them keep working. The formats are those seen in AWS
IAM policies and accepted by the tagging operations:

- workload identity:
  ``arn:aws:bedrock-agentcore:<region>:<account>:workload-identity-directory/default/workload-identity/<name>``
- OAuth 2.0 credential provider:
  ``arn:aws:bedrock-agentcore:<region>:<account>:token-vault/default/oauth2credentialprovider/<name>``
- API-key credential provider:
  ``arn:aws:bedrock-agentcore:<region>:<account>:token-vault/default/apikeycredentialprovider/<name>``
- the secret holding a provider's client secret or API key (proctor keeps it sealed in its
  own vault, VLT-ENC-001; no Secrets Manager is involved):
  ``arn:aws:secretsmanager:<region>:<account>:secret:``
  ``bedrock-agentcore-identity!default/<kind>/<name>-<6 characters>``

(The model's ``credentialProviderArn`` pattern says ``arn:aws:acps:…``; AWS returns the
``bedrock-agentcore`` form above, and botocore checks no output pattern.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["ArnFactory", "ResourceRef", "check_account_id", "check_region"]

ResourceKind = Literal["workload-identity", "oauth2credentialprovider", "apikeycredentialprovider"]

_REGION: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
_ACCOUNT: Final = re.compile(r"[0-9]{12}")
_NAME: Final = r"(?P<name>[A-Za-z0-9_.-]{1,255})"
_SECRET_SUFFIX: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"  # noqa: S105


def check_region(region: str) -> str:
    """``ValueError`` unless ``region`` looks like an AWS region name (``us-east-1``)."""
    if not _REGION.fullmatch(region):
        raise ValueError("the AgentCore region must look like an AWS region, e.g. us-east-1")
    return region


def check_account_id(account_id: str) -> str:
    """``ValueError`` unless ``account_id`` is 12 digits."""
    if not _ACCOUNT.fullmatch(account_id):
        raise ValueError("the AgentCore account id is 12 digits")
    return account_id


@dataclass(frozen=True)
class ResourceRef:
    """What a tagging ARN names."""

    kind: ResourceKind
    name: str


@dataclass(frozen=True)
class ArnFactory:
    region: str = "us-east-1"
    account_id: str = "123456789012"

    def __post_init__(self) -> None:
        check_region(self.region)
        check_account_id(self.account_id)

    @property
    def _prefix(self) -> str:
        return f"arn:aws:bedrock-agentcore:{self.region}:{self.account_id}:"

    def workload_identity(self, name: str) -> str:
        return f"{self._prefix}workload-identity-directory/default/workload-identity/{name}"

    def oauth2_provider(self, name: str) -> str:
        return f"{self._prefix}token-vault/default/oauth2credentialprovider/{name}"

    def api_key_provider(self, name: str) -> str:
        return f"{self._prefix}token-vault/default/apikeycredentialprovider/{name}"

    def secret(self, kind: Literal["oauth2", "apikey"], name: str) -> str:
        """A Secrets Manager-shaped ARN; the 6-character suffix (AWS appends a random one)
        is derived from the name, so the ARN is stable."""
        digest = hashlib.sha256(f"{kind}/{name}".encode()).digest()
        suffix = "".join(_SECRET_SUFFIX[b % len(_SECRET_SUFFIX)] for b in digest[:6])
        return (
            f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:"
            f"bedrock-agentcore-identity!default/{kind}/{name}-{suffix}"
        )

    def parse(self, arn: str) -> ResourceRef | None:
        """The identity resource ``arn`` names in this region and account, else ``None``."""
        prefix = re.escape(self._prefix)
        patterns: tuple[tuple[ResourceKind, str], ...] = (
            ("workload-identity", "workload-identity-directory/default/workload-identity/"),
            ("oauth2credentialprovider", "token-vault/default/oauth2credentialprovider/"),
            ("apikeycredentialprovider", "token-vault/default/apikeycredentialprovider/"),
        )
        for kind, path in patterns:
            match = re.fullmatch(prefix + re.escape(path) + _NAME, arn)
            if match is not None:
                return ResourceRef(kind, match["name"])
        return None
