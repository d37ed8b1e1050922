"""What the checks read (`DoctorContext`) and what one run shares between them (`Probe`).

What several checks need (the Octopus client, the project) is looked up once
and kept on the probe; a check that finds its prerequisite missing raises
`NotChecked` and is reported as not checked instead of failing again for the
same reason. The message helpers name a setting and the file or variable it
came from.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    from components.octopus.client import OctopusClient
    from components.settings import FeatureSettings, OctopusSettings


@dataclass(frozen=True)
class DoctorContext:
    """What the checks read; the CLI builds it from the config it would write."""

    config: Mapping[str, Any] = field(repr=False)
    """The flat stack config automation would write (secrets as plain str or None)."""
    sources: Mapping[str, str]
    """Config key -> where it came from, e.g. "stacks/defaults.yaml: octopus.project"."""
    package_version: Optional[str]
    """The release to deploy, when given or derived."""
    backend_url: str
    """Where Pulumi keeps state: --backend, PULUMI_BACKEND_URL or the embedded file backend."""
    work_dir: Path
    """The Pulumi project directory."""
    feature: Optional[str] = None
    """The feature id, when one was named; lets the release check find its newest release."""
    stack_tenant_ids: Optional[frozenset[str]] = None
    """Ids of the Octopus tenants the feature's stack manages (empty: no stack; None: not known)."""
    stack_creating_tenants: frozenset[str] = frozenset()
    """Names of tenants an interrupted update of the stack was creating (the next create adopts them)."""
    octopus_timeout: tuple[float, float] = (5.0, 15.0)
    """Connect and read timeouts for Octopus: a preflight must answer quickly."""
    octopus_retries: int = 1


class NotChecked(Exception):
    """A check cannot run: what it needs is missing (its own check says why)."""


class Probe:
    """One run's shared look-ups, made once, and the Octopus clients to close."""

    def __init__(self, ctx: DoctorContext) -> None:
        self.ctx = ctx
        self.settings: Optional["FeatureSettings"] = None
        self.project: Optional[dict] = None
        self.environment: Optional[dict] = None
        self._clients: dict[str, "OctopusClient"] = {}

    def setting(self, key: str) -> str:
        """`key (source)` for messages: the setting and where its value came from."""
        source = source_of(self.ctx.sources, key)
        return f"{key} ({source})" if source else key

    def secret(self, key: str) -> Optional[str]:
        value = self.ctx.config.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def octopus(self, key_name: str = "octopus:apiKey") -> "OctopusClient":
        """A client for the configured server and space, authenticated with the named key."""
        if key_name not in self._clients:
            from components.octopus.client import OctopusClient

            api_key = self.secret(key_name)
            if api_key is None:
                raise NotChecked(key_name)
            octopus = self.octopus_settings()
            self._clients[key_name] = OctopusClient(
                octopus.server_url, api_key, octopus.space,
                timeout=self.ctx.octopus_timeout, retries=self.ctx.octopus_retries,
            )
        return self._clients[key_name]

    def octopus_settings(self) -> "OctopusSettings":
        if self.settings is None:
            raise NotChecked("settings")
        return self.settings.octopus

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def need(value: Optional[dict], check: str) -> dict:
    """What an earlier check found, or NotChecked naming that check."""
    if value is None:
        raise NotChecked(check)
    return value


def source_of(sources: Mapping[str, str], key: str) -> str:
    """Where a key came from; a key inside an object falls back to the object's source."""
    probe = key
    while probe:
        if probe in sources:
            return sources[probe]
        if "." not in probe:
            return ""
        probe = probe.rsplit(".", 1)[0]
    return ""


def near_matches(name: str, names: Iterable[str], limit: int = 3) -> list[str]:
    """Names a user probably meant: same letters in another case, a part of it, or a near spelling."""
    wanted = name.strip().casefold()
    by_folded: dict[str, str] = {}
    for candidate in names:
        if isinstance(candidate, str) and candidate.strip():
            by_folded.setdefault(candidate.strip().casefold(), candidate)
    contains = [by_folded[f] for f in by_folded if wanted and (wanted in f or f in wanted)]
    close = [
        by_folded[f] for f in difflib.get_close_matches(wanted, list(by_folded), n=limit, cutoff=0.6)
    ]
    found: list[str] = []
    for candidate in close + contains:
        if candidate not in found:
            found.append(candidate)
    return found[:limit]


def missing(what: str, name: str, names: Sequence[str], where: str, *, named: bool = True) -> str:
    """`no <what> named <name> in <where>`, with near matches or what there is instead."""
    text = f"no {what} {'named ' if named else ''}{name!r} in {where}"
    near = near_matches(name, names)
    if near:
        return f"{text}; near matches: {', '.join(repr(n) for n in near)}"
    if names:
        shown = ", ".join(repr(n) for n in sorted(names)[:8])
        more = f" (and {len(names) - 8} more)" if len(names) > 8 else ""
        return f"{text}; it has {shown}{more}"
    return f"{text}, which has none"
