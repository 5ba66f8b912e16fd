"""What an S3 failure means for the uploader, and what to tell the user.

`classify` maps any exception from boto3, botocore, urllib3 or the OS to a kind
(the label of `traceloop_s3_errors_total`), whether trying again soon can help
(transient), whether it concerns the whole store or just one object, and a one-
line message that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)


@dataclass(frozen=True)
class Failure:
    kind: str
    transient: bool
    store_wide: bool  # False: only this object is refused; others may still go
    message: str


class NotConfirmed(Exception):
    """The store does not hold what was sent (size or checksum differ)."""


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the store does not know this access key id: check AWS_ACCESS_KEY_ID "
    "or the profile's credentials",
    "SignatureDoesNotMatch": "the request signature does not match: check the secret key "
    "(AWS_SECRET_ACCESS_KEY or the profile's credentials)",
    "InvalidToken": "the session token is invalid: check AWS_SESSION_TOKEN",
    "AuthorizationHeaderMalformed": "the authorization header is malformed: check the region "
    "(--s3-region, AWS_REGION)",
}
_TRANSIENT_CODES = {
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "ExpiredToken",
    "TokenRefreshRequired",
    "OperationAborted",
    "Throttling",
    "RequestLimitExceeded",
}


def _chain(exc: BaseException) -> list[BaseException]:
    # boto3's S3UploadFailedError keeps the real ClientError as its cause.
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def classify(exc: BaseException, where: str) -> Failure:
    """`where` names the bucket or object (`s3://bucket/...`) for the message."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, NotConfirmed):
            return Failure("unconfirmed", True, False, f"{where}: {e}")
        if isinstance(e, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return Failure(
                "credentials",
                False,
                True,
                f"{where}: no usable AWS credentials ({e}): set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a web identity (IRSA) or an instance role",
            )
        if isinstance(e, ProfileNotFound):
            return Failure("credentials", False, True, f"{where}: {e}")
        if isinstance(e, ClientError):
            return _client_error(e, where)
    for e in chain:
        if isinstance(e, ConnectionError | HTTPClientError | OSError):
            return Failure("connection", True, True, f"{where}: cannot reach the S3 endpoint: {e}")
        if isinstance(e, BotoCoreError):
            return Failure("error", True, True, f"{where}: {e}")
    # urllib3 errors that escaped botocore's wrapping are connection trouble too.
    if any(type(e).__module__.startswith("urllib3") for e in chain):
        return Failure("connection", True, True, f"{where}: cannot reach the S3 endpoint: {exc}")
    return Failure("error", True, True, f"{where}: {type(exc).__name__}: {exc}")


def _client_error(e: ClientError, where: str) -> Failure:
    err = e.response.get("Error", {})
    code = str(err.get("Code", ""))
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    op = e.operation_name
    if code in _CREDENTIAL_CODES:
        return Failure("credentials", False, True, f"{where}: {_CREDENTIAL_CODES[code]} ({code})")
    if code == "NoSuchBucket" or (code in ("404", "NotFound") and op == "HeadBucket"):
        return Failure(
            "no-bucket",
            False,
            True,
            f"{where}: the bucket does not exist (create it, or fix the bucket in --sink)",
        )
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled") or status == 403:
        return Failure(
            "access-denied",
            False,
            True,
            f"{where}: access denied ({op}, HTTP 403): check the credentials and that they "
            "allow s3:PutObject, s3:GetObject and s3:ListBucket on the bucket",
        )
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return Failure("server", True, True, f"{where}: the store failed ({op}: {code or status})")
    # Other 4xx: this request is refused (a bad storage class, KMS key, size...).
    return Failure(
        "rejected",
        False,
        False,
        f"{where}: the store refused {op}: {code or status} {err.get('Message', '')}".rstrip(),
    )
