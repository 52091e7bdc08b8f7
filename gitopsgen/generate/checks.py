"""Syntax checks for the values a user gives: names, hosts, image references, semver ranges.

Each check returns the value unchanged or raises :class:`InputError` with a one-line reason.
"""

from __future__ import annotations

import re
from fractions import Fraction

from ..errors import InputError

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_REGISTRY_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$")
# An image repository without tag or digest: [host[:port]/]path/segments (lower case, as OCI requires).
_IMAGE_REPO = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?/)?"
    r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# One term of a Masterminds semver constraint (the syntax Flux ImagePolicy uses).
_SEMVER_PART = r"(0|[1-9][0-9]*|x|X|\*)"
_SEMVER = rf"v?{_SEMVER_PART}(\.{_SEMVER_PART}){{0,2}}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
_SEMVER_TERM = re.compile(rf"^(\^|~>?|>=|<=|>|<|=|!=)?\s*{_SEMVER}$")
_SEMVER_HYPHEN = re.compile(rf"^{_SEMVER}\s+-\s+{_SEMVER}$")
_K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")


def dns_label(value: str, what: str, max_len: int = 63) -> str:
    if not isinstance(value, str) or not _DNS1123_LABEL.match(value) or len(value) > max_len:
        raise InputError(
            f"{what} {value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {max_len} characters)"
        )
    return value


def dns_subdomain(value: str, what: str) -> str:
    if not isinstance(value, str) or not _DNS1123_SUBDOMAIN.match(value) or len(value) > 253:
        raise InputError(f"{what} {value!r} is not a DNS-1123 host name")
    return value


def registry_host(value: str) -> str:
    if not isinstance(value, str) or not _REGISTRY_HOST.match(value):
        raise InputError(f"registry {value!r} is not a host name (with an optional :port), e.g. harbor.example.com")
    return value


def image_repository(value: str, what: str) -> str:
    if not isinstance(value, str) or not _IMAGE_REPO.match(value) or len(value) > 255:
        raise InputError(
            f"{what} {value!r} is not an image repository without tag (e.g. harbor.example.com/data/flows)"
        )
    return value


def image_tag(value: str, what: str) -> str:
    if not isinstance(value, str) or not _IMAGE_TAG.match(value):
        raise InputError(f"{what} {value!r} is not a valid image tag")
    return value


def semver_range(value: str) -> str:
    """Check a Masterminds semver constraint such as ``>=1.0.0 <2.0.0`` or ``~1.4 || ^2.0``."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"image policy {value!r} is not a semver range (e.g. '>=1.0.0 <2.0.0')")
    for alternative in value.split("||"):
        alternative = alternative.strip()
        if _SEMVER_HYPHEN.match(alternative):
            continue
        terms = [t for t in re.split(r"\s*,\s*|\s+(?=[\^~<>=!v0-9])", alternative) if t]
        if not terms or not all(_SEMVER_TERM.match(t.strip()) for t in terms):
            raise InputError(f"image policy {value!r} is not a semver range (e.g. '>=1.0.0 <2.0.0')")
    return value


def quantity(value: str, what: str) -> str:
    if not isinstance(value, str) or not _K8S_QUANTITY.match(value):
        raise InputError(f"{what} {value!r} is not a Kubernetes quantity (e.g. 500m, 1Gi)")
    return value


_SUFFIX = {
    "": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9),
    "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10),
    "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


def quantity_value(value: str) -> Fraction:
    """The exact amount of a quantity ``quantity`` accepts (``500m`` → 1/2, ``1Gi`` → 2**30), for comparing."""
    m = _K8S_QUANTITY.match(value)
    if not m:
        raise InputError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1Gi)")
    number = value[: len(value) - len(m.group(2) or "")]
    return Fraction(number) * _SUFFIX[m.group(2) or ""]


def duration(value: str, what: str) -> str:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise InputError(f"{what} {value!r} is not a duration (e.g. 10m, 1h30m)")
    return value


def version(value: str, what: str) -> str:
    if not isinstance(value, str) or not _VERSION.match(value):
        raise InputError(f"{what} {value!r} is not a version X.Y.Z")
    return value


def positive_int(value: object, what: str, minimum: int = 1, maximum: int = 1000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InputError(f"{what} {value!r} must be an integer from {minimum} to {maximum}")
    return value
