"""Verifies an EKS bearer token the way EKS does before it calls STS: re-signs the
presigned GetCallerIdentity request with botocore's SigV4 (an implementation other than
the aws-sigv4 crate that made it) and compares signatures.

usage: verify_eks_token.py TOKEN CLUSTER ACCESS_KEY SECRET_KEY [SESSION_TOKEN]
Prints `ok`, or the reason and exits 1.
"""
import base64
import datetime
import sys
import types
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials


class _Frozen(datetime.datetime):
    """datetime whose now/utcnow is the token's signing time."""

    fixed = None

    @classmethod
    def utcnow(cls):
        return cls.fixed

    @classmethod
    def now(cls, tz=None):
        return cls.fixed.replace(tzinfo=tz) if tz else cls.fixed


def freeze_clock(fixed):
    # botocore reads the clock through compat.get_current_datetime (1.36+) or
    # datetime.datetime.utcnow (older releases, e.g. the one checkov pins): freeze both.
    _Frozen.fixed = fixed
    botocore.auth.get_current_datetime = lambda *a, **k: fixed
    botocore.auth.datetime = types.SimpleNamespace(
        datetime=_Frozen, timezone=datetime.timezone, timedelta=datetime.timedelta
    )


def main():
    token, cluster, access_key, secret_key = sys.argv[1:5]
    session_token = sys.argv[5] if len(sys.argv) > 5 else None
    prefix = "k8s-aws-v1."
    if not token.startswith(prefix):
        sys.exit("no k8s-aws-v1. prefix")
    encoded = token[len(prefix):]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parts = urllib.parse.urlsplit(url)
    params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    given = dict(params)
    host = parts.hostname or ""
    if not (host.startswith("sts.") and host.endswith(".amazonaws.com")):
        sys.exit(f"not an STS host: {host}")
    region = host.split(".")[1]
    signed_headers = given.get("X-Amz-SignedHeaders", "")
    if signed_headers != "host;x-k8s-aws-id":
        sys.exit(f"signed headers are {signed_headers!r}, not host;x-k8s-aws-id")
    stamp = given["X-Amz-Date"]
    fixed = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    freeze_clock(fixed)
    unsigned = [(k, v) for k, v in params if not k.startswith("X-Amz-")]
    request = botocore.awsrequest.AWSRequest(
        method="GET",
        url=f"https://{host}/?" + urllib.parse.urlencode(unsigned),
        headers={"x-k8s-aws-id": cluster},
    )
    credentials = botocore.credentials.Credentials(access_key, secret_key, session_token)
    signer = botocore.auth.SigV4QueryAuth(
        credentials, "sts", region, expires=int(given["X-Amz-Expires"])
    )
    signer.add_auth(request)
    expected = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))
    if expected.get("X-Amz-Signature") != given.get("X-Amz-Signature"):
        sys.exit("signature does not match these credentials and this cluster")
    print("ok")


if __name__ == "__main__":
    main()
