"""The bundled `hubspot-exports` profile through the real CLI against the simulator's HubSpot:
an export started with HubSpot's own documented view-export request, its task polled by id
with the private app token, and the file saved from the five-minute download URL, which gets
no token."""

from __future__ import annotations

import json

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli
from tests.e2e.profiles.support import add_profile_account, assert_secret_stayed_home, saved_job

# https://developers.hubspot.com/docs/api-reference/crm-exports-v3/guide: "Export a view"
VIEW_EXPORT = {
    "exportType": "VIEW",
    "exportName": "All contacts",
    "format": "xlsx",
    "language": "DE",
    "objectType": "CONTACT",
    "exportInternalValuesOptions": ["NAMES", "VALUES"],
    "objectProperties": ["email", "firstname", "lastname"],
    "associatedObjectType": "COMPANY",
    "publicCrmSearchRequest": {
        "filters": [{"value": "hello@test.com", "propertyName": "email", "operator": "EQ"}],
        "query": "hello",
        "sorts": [{"propertyName": "email", "order": "ASC"}],
    },
}


def test_a_view_export_is_saved_from_its_download_url(cli: Cli, simulator: Simulator) -> None:
    add_profile_account(cli, simulator, "hubspot-exports", "crm")
    job = json.loads(cli("submit", "crm", "--body", json.dumps(VIEW_EXPORT), "--json").stdout)
    assert job["remote_id"].isdigit() and job["state"] == "queued"
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "hubspot-exports")
    (path,) = (r["path"] for r in saved["results"])  # type: ignore[attr-defined]
    assert path.endswith("/hubspot-crm-exports-all-contacts.xlsx")
    api = simulator.requests("hubspot-exports")
    assert json.loads(api[0].body) == VIEW_EXPORT
    status = f"/crm/v3/exports/export/async/tasks/{job['remote_id']}/status"
    assert [r.method for r in api[1:]] == ["GET"] * (len(api) - 1)
    assert api[1:] and {r.path for r in api[1:]} == {status}
    assert_secret_stayed_home(simulator, "hubspot-exports")


def test_a_large_csv_export_arrives_zipped_as_served(cli: Cli, simulator: Simulator) -> None:
    add_profile_account(cli, simulator, "hubspot-exports", "crm")
    # the profile's own request (a CSV view export); HubSpot zips a CSV of more than 2 MB
    cli("submit", "crm", "--param", f"sim_size={3 * 1024 * 1024}")
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "hubspot-exports")
    (path,) = (r["path"] for r in saved["results"])  # type: ignore[attr-defined]
    assert path.endswith("/hubspot-crm-exports-all-contacts.zip")
    assert_secret_stayed_home(simulator, "hubspot-exports")
