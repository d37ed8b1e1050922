"""What every Octopus dynamic provider shares: where its configuration comes from.

Pulumi pickles a provider object into the stack state and unpickles it in the
provider process, possibly months later, to refresh or destroy. So the object
carries no URL, key, session or client: `configure()` reads them each time a
provider process starts, and pickling drops them.

The API key is the one of *this run*: OCTOPUS_API_KEY in the provider
process's environment (the engine passes on the command line's environment)
comes before the stack config. `destroy` and `refresh` configure the provider
with the config recorded in the state at the last update, so a key rotated
since then would otherwise be sent again, refused, and leave every feature
created before the rotation impossible to destroy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Protocol

from pulumi.dynamic import ConfigureRequest, ResourceProvider

if TYPE_CHECKING:
    from components.octopus.client import OctopusClient

SERVER_URL_KEY = "octopus:serverUrl"
API_KEY_KEY = "octopus:apiKey"
SPACE_KEY = "octopus:space"
SERVER_URL_ENV = "OCTOPUS_URL"
API_KEY_ENV = "OCTOPUS_API_KEY"
DEFAULT_SPACE = "Default"


class _Lookup(Protocol):
    def get(self, key: str) -> Any: ...


class ProviderConfigError(ValueError):
    """The stack config (and environment) lack what a provider needs to reach Octopus."""


@dataclass(frozen=True)
class ProviderConfig:
    """Where Octopus is and how to authenticate; the key stays out of repr."""

    server_url: Optional[str] = None
    api_key: Optional[str] = field(default=None, repr=False)
    space: str = DEFAULT_SPACE

    @classmethod
    def from_sources(
        cls, config: "_Lookup", environ: Optional[Mapping[str, str]] = None
    ) -> "ProviderConfig":
        """The key of this run first (OCTOPUS_API_KEY), then the stack config's;
        the URL and space from the stack config, OCTOPUS_URL filling a missing URL.

        `config` is anything with `get(key)`: a dict, or the `pulumi.dynamic.Config`
        the engine hands configure() (namespaced keys such as `octopus:serverUrl`),
        which for destroy and refresh is the config recorded in the state.
        """
        environ = os.environ if environ is None else environ
        return cls(
            server_url=_text(config.get(SERVER_URL_KEY)) or _text(environ.get(SERVER_URL_ENV)),
            api_key=_text(environ.get(API_KEY_ENV)) or _text(config.get(API_KEY_KEY)),
            space=_text(config.get(SPACE_KEY)) or DEFAULT_SPACE,
        )

    def require(self) -> tuple[str, str]:
        missing = []
        if not self.server_url:
            missing.append(f"{SERVER_URL_KEY} (or env {SERVER_URL_ENV})")
        if not self.api_key:
            missing.append(f"env {API_KEY_ENV} (or the secret {API_KEY_KEY})")
        if missing:
            raise ProviderConfigError(
                "the Octopus provider is not configured: set " + " and ".join(missing)
            )
        return self.server_url, self.api_key  # type: ignore[return-value]


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class OctopusProvider(ResourceProvider):
    """Base of the Octopus providers: config from configure(), a fresh client per call."""

    # The serialized provider is a secret in state anyway; it holds none of ours.
    serialize_as_secret_always = True
    _config: Optional[ProviderConfig] = None
    #: Extra OctopusClient keyword arguments (timeouts, retries); tests shorten the backoff.
    client_options: Mapping[str, Any] = {}

    def configure(self, req: ConfigureRequest) -> None:
        self._config = ProviderConfig.from_sources(req.config)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into the state: keep nothing configure() put here (URL, key, space).
        state = dict(self.__dict__)
        state.pop("_config", None)
        return state

    @property
    def config(self) -> ProviderConfig:
        """What configure() read; the environment alone when it was never called."""
        return self._config or ProviderConfig.from_sources({})

    def default_space(self) -> str:
        return self.config.space

    def recorded_space(self, props: Mapping[str, Any]) -> str:
        """The space a resource was created in: its id from the state, which no rename moves."""
        return props.get("space_id") or props.get("space") or self.config.space

    def client(self, space: Optional[str] = None) -> "OctopusClient":
        """A new client for one operation; the caller closes it (use `with`)."""
        from components.octopus.client import OctopusClient

        server_url, api_key = self.config.require()
        return OctopusClient(
            server_url, api_key, space or self.config.space, **self.client_options
        )

