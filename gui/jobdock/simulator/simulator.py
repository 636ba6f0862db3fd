"""`Simulator`: every fake API plus two storage origins, started and stopped together.

It owns the shared pieces (config, request record, object store, URL signer, secrets), builds one
`Site` per origin, and is the single handle tests and `jobdock --demo` use: base URLs and secrets,
faults, the request record, the exact bytes a finished job's results hold, and demo accounts.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from types import TracebackType

from jobdock.core.model.job import SubmitRequest
from jobdock.simulator.amazon import LwaApi, LwaTokens, SpReportsApi
from jobdock.simulator.cisco import USER, CiscoApi
from jobdock.simulator.config import DemoAccount, SimConfig, demo_config
from jobdock.simulator.databricks import DatabricksApi
from jobdock.simulator.faults import FaultQueue, HttpFault, StorageFault
from jobdock.simulator.generic202 import GenericApi
from jobdock.simulator.google import GoogleLroApi, GoogleOAuthApi, GoogleTokens
from jobdock.simulator.hubspot import HubSpotApi
from jobdock.simulator.mailchimp import MailchimpApi
from jobdock.simulator.meta import MetaApi
from jobdock.simulator.salesforce import SalesforceApi
from jobdock.simulator.server import Api, Site
from jobdock.simulator.shopify import ShopifyApi
from jobdock.simulator.shoptet import ShoptetApi
from jobdock.simulator.signing import Signer
from jobdock.simulator.storage import ObjectStore, StorageApi, StorageServer
from jobdock.simulator.stripe import StripeFilesApi, StripeReportsApi
from jobdock.simulator.testo import TestoApi
from jobdock.simulator.uniprot import UniProtIdMappingApi
from jobdock.simulator.vainu import VainuApi
from jobdock.simulator.webhooks import Delivery
from jobdock.simulator.wire import RecordedRequest, Recorder

PROVIDERS = ("vainu", "testo", "cisco-cce", "generic-202", "shoptet")
# The APIs of bundled profiles (`jobdock/core/providers/profiles/bundled/`), for their tests
# (no demo accounts), and the token endpoints they use.
PROFILE_APIS = (
    "shopify-bulk",
    "hubspot-exports",
    "google-lro",
    "google-oauth",
    "mailchimp-batches",
    "databricks-sql",
    "stripe-reports",
    "stripe-files",
    "salesforce-bulk-query",
    "amazon-sp-reports",
    "amazon-lwa",
    "meta-insights",
    "uniprot-idmapping",
)
BUCKET = "sim-results"
FakeApi = (
    VainuApi
    | TestoApi
    | CiscoApi
    | GenericApi
    | ShoptetApi
    | ShopifyApi
    | HubSpotApi
    | GoogleLroApi
    | GoogleOAuthApi
    | MailchimpApi
    | DatabricksApi
    | StripeReportsApi
    | StripeFilesApi
    | SalesforceApi
    | SpReportsApi
    | LwaApi
    | MetaApi
    | UniProtIdMappingApi
)


class Simulator:
    """Fakes of every built-in API on 127.0.0.1; a context manager (or `start()`/`stop()`)."""

    demo_config = staticmethod(demo_config)

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self._recorder = Recorder()
        store, signer = ObjectStore(), Signer(BUCKET)
        self.storage = self._storage("storage", store, signer)
        self.storage_alt = self._storage("storage-alt", store, signer)
        self._secrets = {
            p: f"sim-{p}-{secrets.token_urlsafe(18)}" for p in (*PROVIDERS, *PROFILE_APIS)
        }
        cfg = self.config
        google = GoogleTokens(cfg)
        lwa = LwaTokens(cfg, refresh_token=self._secrets["amazon-sp-reports"])
        self._secrets["amazon-lwa"] = self._secrets["amazon-sp-reports"]  # the refresh token
        self._secrets["google-oauth"] = self._secrets["google-lro"]  # one refresh token
        self._secrets["stripe-files"] = self._secrets["stripe-reports"]  # one secret key
        stripe_files = StripeFilesApi(config=cfg, secret=self._secrets["stripe-files"])
        self.apis: dict[str, FakeApi] = {
            "vainu": VainuApi(config=cfg, storage=self.storage, secret=self._secrets["vainu"]),
            "testo": TestoApi(config=cfg, storage=self.storage, secret=self._secrets["testo"]),
            "cisco-cce": CiscoApi(config=cfg, secret=self._secrets["cisco-cce"]),
            "generic-202": GenericApi(config=cfg, secret=self._secrets["generic-202"]),
            "shoptet": ShoptetApi(
                config=cfg, storage=self.storage, secret=self._secrets["shoptet"]
            ),
            "shopify-bulk": ShopifyApi(
                config=cfg, storage=self.storage, secret=self._secrets["shopify-bulk"]
            ),
            "hubspot-exports": HubSpotApi(
                config=cfg, storage=self.storage, secret=self._secrets["hubspot-exports"]
            ),
            "google-lro": GoogleLroApi(
                config=cfg, tokens=google, secret=self._secrets["google-lro"]
            ),
            "google-oauth": GoogleOAuthApi(
                config=cfg, tokens=google, secret=self._secrets["google-oauth"]
            ),
            "mailchimp-batches": MailchimpApi(
                config=cfg, storage=self.storage, secret=self._secrets["mailchimp-batches"]
            ),
            "databricks-sql": DatabricksApi(
                config=cfg, storage=self.storage, secret=self._secrets["databricks-sql"]
            ),
            "stripe-reports": StripeReportsApi(
                config=cfg, files=stripe_files, secret=self._secrets["stripe-reports"]
            ),
            "stripe-files": stripe_files,
            "salesforce-bulk-query": SalesforceApi(
                config=cfg, secret=self._secrets["salesforce-bulk-query"]
            ),
            "amazon-sp-reports": SpReportsApi(config=cfg, storage=self.storage, tokens=lwa),
            "amazon-lwa": LwaApi(config=cfg, tokens=lwa),
            "meta-insights": MetaApi(config=cfg, secret=self._secrets["meta-insights"]),
            "uniprot-idmapping": UniProtIdMappingApi(config=cfg),
        }
        self._sites: dict[str, Site] = {
            "storage": self.storage.site,
            "storage-alt": self.storage_alt.site,
            **{name: self._site(name, api) for name, api in self.apis.items()},
        }
        self._running = False

    def _site(self, name: str, api: Api, faults: FaultQueue | None = None) -> Site:
        return Site(name, api, recorder=self._recorder, clock=self._now, faults=faults)

    def _now(self) -> float:
        return self.config.clock()  # read live: tests may swap the clock on a running simulator

    def _storage(self, name: str, store: ObjectStore, signer: Signer) -> StorageServer:
        faults = FaultQueue()
        api = StorageApi(
            name,
            store=store,
            signer=signer,
            config=self.config,
            faults=faults,
            alt=lambda: self.storage_alt if name == "storage" else self.storage,
        )
        return StorageServer(self._site(name, api, faults), api)

    # Lifecycle
    def start(self, *, ports: Mapping[str, int] | None = None) -> Simulator:
        """Start every origin; `ports` (from `ports()` of an earlier run) where they are free."""
        if self._running:
            return self
        started: list[Site] = []
        try:
            for name, site in self._sites.items():
                site.start((ports or {}).get(name, 0))
                started.append(site)
        except BaseException:
            for site in reversed(started):
                site.stop()
            raise
        self._running = True
        return self

    def stop(self) -> None:
        """Stop every origin, close every connection and join the threads."""
        # In parallel: each server's loop takes up to its poll interval to notice the shutdown.
        stoppers = [threading.Thread(target=site.stop) for site in self._sites.values()]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        self._running = False

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Addresses and credentials
    def servers(self) -> list[str]:
        """The name of every origin (`storage`, `vainu`, …), running or not."""
        return list(self._sites)

    def ports(self) -> dict[str, int]:
        """The port of every origin, by name (`storage`, `vainu`, …)."""
        return {name: int(site.origin.rsplit(":", 1)[1]) for name, site in self._sites.items()}

    def origin(self, server: str) -> str:
        return self._sites[server].origin

    def base_url(self, provider: str) -> str:
        api = self.apis[provider]
        if isinstance(api, VainuApi | CiscoApi | MetaApi):
            return api.base_url
        return self._sites[provider].origin

    def secret(self, provider: str) -> str:
        return self._secrets[provider]

    def user(self, provider: str) -> str | None:
        # Mailchimp takes any user name with the API key ("anystring" in its own examples)
        return {"cisco-cce": USER, "mailchimp-batches": "anystring"}.get(provider)

    # Faults and the request record
    def add_fault(self, server: str, fault: HttpFault | StorageFault) -> None:
        self._sites[server].faults.add(fault)

    def clear_faults(self, server: str | None = None) -> None:
        for name, site in self._sites.items():
            if server is None or name == server:
                site.faults.clear()

    def requests(self, server: str | None = None) -> list[RecordedRequest]:
        if server is not None and server not in self._sites:
            raise KeyError(server)
        return self._recorder.snapshot(server)

    def clear_requests(self) -> None:
        self._recorder.clear()

    def expected_results(self, provider_id: str, remote_id: str) -> list[bytes]:
        """The exact bytes of each result file of a job, in the order the API lists them."""
        return self.apis[provider_id].expected_results(remote_id)

    # Google (an AIP-151 API and its OAuth 2.0 token endpoint)
    def google_oauth_secrets(self) -> dict[str, str]:
        """The named secrets of a `google-lro` account: `client_id`, `client_secret` and
        `refresh_token` (which is `secret("google-lro")`)."""
        api = self.apis["google-lro"]
        assert isinstance(api, GoogleLroApi)
        tokens = api.tokens
        return {"client_id": tokens.client_id, "client_secret": tokens.client_secret,
                "refresh_token": self._secrets["google-lro"]}  # fmt: skip

    def google_access_tokens(self) -> list[str]:
        """Every access token the fake Google token endpoint has issued."""
        api = self.apis["google-lro"]
        assert isinstance(api, GoogleLroApi)
        return api.tokens.issued()

    # Salesforce (an org's instance: its token endpoint and Bulk API 2.0 query jobs)
    def salesforce_oauth_secrets(self, grant: str = "client_credentials") -> dict[str, str]:
        """The named secrets of a `salesforce-bulk-query` account: the external client app's
        consumer key and secret as `client_id` and `client_secret` (the latter is
        `secret("salesforce-bulk-query")`), and for the `refresh_token` grant the user's
        current `refresh_token` too."""
        api = self.apis["salesforce-bulk-query"]
        assert isinstance(api, SalesforceApi)
        named = {"client_id": api.sessions.client_id, "client_secret": api.sessions.client_secret}
        if grant == "refresh_token":
            assert api.sessions.refresh_token is not None, "the refresh token was revoked"
            named["refresh_token"] = api.sessions.refresh_token
        return named

    def salesforce_refresh_tokens(self) -> list[str]:
        """Every refresh token the fake org gave the user's app, the current one last (with
        `SimConfig.salesforce_rotate_refresh_tokens` each grant adds one)."""
        api = self.apis["salesforce-bulk-query"]
        assert isinstance(api, SalesforceApi)
        return api.sessions.refresh_tokens()

    def salesforce_access_tokens(self) -> list[str]:
        """Every access token the fake org's token endpoint has issued."""
        api = self.apis["salesforce-bulk-query"]
        assert isinstance(api, SalesforceApi)
        return api.sessions.issued()

    # Amazon SP-API (the Reports API and its Login with Amazon token endpoint)
    def amazon_lwa_secrets(self) -> dict[str, str]:
        """The named secrets of an `amazon-sp-reports` account: `client_id`, `client_secret`
        and `refresh_token` (which is `secret("amazon-sp-reports")`)."""
        api = self.apis["amazon-sp-reports"]
        assert isinstance(api, SpReportsApi)
        tokens = api.tokens
        return {"client_id": tokens.client_id, "client_secret": tokens.client_secret,
                "refresh_token": tokens.refresh_token}  # fmt: skip

    def amazon_access_tokens(self) -> list[str]:
        """Every LWA access token the fake token endpoint has issued."""
        api = self.apis["amazon-sp-reports"]
        assert isinstance(api, SpReportsApi)
        return api.tokens.issued()

    def amazon_served(self, remote_id: str) -> bytes | None:
        """A report document's bytes as the storage serves them (gzip for a GZIP document)."""
        api = self.apis["amazon-sp-reports"]
        assert isinstance(api, SpReportsApi)
        return api.served(remote_id)

    # Shoptet
    @property
    def _shoptet(self) -> ShoptetApi:
        api = self.apis["shoptet"]
        assert isinstance(api, ShoptetApi)
        return api

    def shoptet_stats(self) -> dict[str, int]:
        """Counters: requests, detail_calls, detail_403, max_concurrent (requests in flight for
        one token, rejected ones included), list_calls, rate_limited, too_many_connections,
        webhooks_sent (deliveries answered 2xx)."""
        stats = self._shoptet.guard.snapshot()
        sent = [d for d in self.shoptet_deliveries() if 200 <= d.status < 300]
        return {**stats, "webhooks_sent": len(sent)}

    @property
    def shoptet_oauth_token(self) -> str:
        """The add-on OAuth access token that `GET {shoptet}/token` exchanges."""
        return self._shoptet.guard.oauth_token

    def shoptet_signature_key(self) -> str:
        return self._shoptet.webhooks.signature_key

    def shoptet_deliveries(self) -> list[Delivery]:
        return self._shoptet.webhooks.deliveries()

    # Demo
    def demo_accounts(self) -> list[DemoAccount]:
        return [
            DemoAccount(
                name=f"demo-{provider.split('-')[0]}",
                provider=provider,
                base_url=self.base_url(provider),
                user=self.user(provider),
                secret=self.secret(provider),
                request=DEMO_REQUESTS[provider],
            )
            for provider in PROVIDERS
        ]


DEMO_REQUESTS = {
    "vainu": SubmitRequest(
        method="GET",
        path="companies/async/",
        params=(("async_format", "csv"), ("country", "FI"), ("industry_code", "62")),
    ),
    "testo": SubmitRequest(
        method="POST",
        path="/v3/devices/status",
        body=json.dumps(
            {
                "time_range": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
                "options": {"result_file_format": "CSV"},
            }
        ).encode(),
        content_type="application/json",
    ),
    "cisco-cce": SubmitRequest(
        method="POST",
        path="calltype",
        params=(("async", "true"),),
        body=b"<callType><name>demo_calltype</name>"
        b"<description>Created by the Jobdock demo</description></callType>",
        content_type="application/xml",
    ),
    "generic-202": SubmitRequest(
        method="PUT",
        path="items/demo-1",
        body=json.dumps({"name": "demo-1", "size": "large"}).encode(),
        content_type="application/json",
    ),
    "shoptet": SubmitRequest(method="GET", path="/api/products/snapshot"),
}
