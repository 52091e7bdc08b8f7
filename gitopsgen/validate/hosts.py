"""Which hosts the validator may fetch charts from: the allow/deny list for URLs a repository names.

A merge request chooses the URLs of its HelmRepositories and OCIRepositories, and the validate and diff
jobs fetch them from the CI runner, inside its network. So a URL whose host is (or resolves to) a
loopback, link-local (cloud metadata services live there), unspecified or multicast address is refused,
and so is a redirect to one, unless the host is allowed in ``GITOPSGEN_ALLOW_HOSTS`` (hostnames or
addresses, separated by spaces or commas). Mirrors (``--helm-mirror``) are chosen by the user, not the
repository, and are never checked. Other private addresses (an in-house chart repository) are allowed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import urllib.parse
from dataclasses import dataclass


class HostRefused(Exception):
    """A URL's host is denied; the message is one line naming the host and why."""


def _denied(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for what, hit in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
    ):
        if hit:
            return what
    return ""


@dataclass(frozen=True)
class HostPolicy:
    """The hosts allowed besides the default (every host that is not denied)."""

    allowed: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls) -> HostPolicy:
        raw = os.environ.get("GITOPSGEN_ALLOW_HOSTS", "")
        return cls(frozenset(h.lower().strip("[]") for h in re.split(r"[\s,]+", raw) if h))

    def check(self, url: str) -> None:
        """HostRefused when ``url``'s host is denied (by its address, or every address it resolves to)."""
        host = (urllib.parse.urlsplit(url if "://" in url else f"//{url}").hostname or "").lower()
        if not host or host in self.allowed:
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError):
                return  # does not resolve: the fetch itself fails with its own message
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for address in addresses:
            why = _denied(address)
            if why:
                raise HostRefused(
                    f"{host} is a {why} address ({address}): not fetched from a repository's URL "
                    "(mirror it with --helm-mirror, or allow it in GITOPSGEN_ALLOW_HOSTS)"
                )
