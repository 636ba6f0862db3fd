"""The bundled `shopify-bulk` profile through the real CLI against the simulator's Shopify:
a bulk query started with Shopify's own documented mutation, polled by its URI id over
GraphQL, and its JSONL file saved from the pre-signed link."""

from __future__ import annotations

import json

from jobdock.simulator import Simulator
from tests.e2e.conftest import Cli
from tests.e2e.profiles.support import add_profile_account, assert_secret_stayed_home, saved_job

# https://shopify.dev/docs/api/usage/bulk-operations/queries: "Step 1. Submit a query"
MUTATION = '''mutation {
  bulkOperationRunQuery(
   query: """
    {
      products {
        edges {
          node {
            id
            title
          }
        }
      }
    }
    """
  ) {
    bulkOperation {
      id
      status
    }
    userErrors {
      field
      message
    }
  }
}'''


def test_a_bulk_query_is_polled_by_its_gid_and_its_jsonl_saved(
    cli: Cli, simulator: Simulator
) -> None:
    add_profile_account(cli, simulator, "shopify-bulk", "shop")
    body = json.dumps({"query": MUTATION})
    job = json.loads(cli("submit", "shop", "--body", body, "--json").stdout)
    assert job["remote_id"].startswith("gid://shopify/BulkOperation/")
    assert job["remote_state"] == "CREATED"
    cli("watch", "--until-done", "--timeout", "60")
    saved = saved_job(cli, simulator, "shopify-bulk")
    assert [r["path"].rsplit("/", 1)[1] for r in saved["results"]] == [  # type: ignore[attr-defined]
        f"bulk-gid___shopify_BulkOperation_{job['remote_id'].rsplit('/', 1)[1]}.jsonl"
    ]
    api = simulator.requests("shopify-bulk")
    assert all(r.method == "POST" and r.path == "/admin/api/2026-07/graphql.json" for r in api)
    polls = [json.loads(r.body) for r in api[1:]]
    assert polls and all(p["variables"] == {"id": job["remote_id"]} for p in polls)
    assert all("node(id: $id)" in p["query"] for p in polls)
    assert_secret_stayed_home(simulator, "shopify-bulk")


def test_a_refused_bulk_query_records_no_job(cli: Cli, simulator: Simulator) -> None:
    add_profile_account(cli, simulator, "shopify-bulk", "shop")
    body = json.dumps(
        {
            "query": 'mutation { bulkOperationRunQuery(query: "{ shop { name } }") '
            "{ bulkOperation { id status } userErrors { field message } } }"
        }
    )
    refused = cli("submit", "shop", "--body", body, expect=1)
    # Shopify answers userErrors and no bulkOperation: the answer names no job, and the
    # message is Shopify's own
    assert "Bulk queries must contain at least one connection." in refused.stderr
    assert "the answer has no `data.bulkOperationRunQuery.bulkOperation.id`" in refused.stderr
    (answer,) = [r for r in simulator.requests("shopify-bulk") if r.method == "POST"]
    assert answer.status == 200
    assert json.loads(cli("jobs", "--json").stdout) == []
