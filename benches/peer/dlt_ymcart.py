"""Peer side of the ordersync benchmark: dlt's rest_api source into SQLite.

Loads every order of one YMCart shop (POST api-erp-orderList.html, page by
page) into a SQLite file through dlt's `sqlalchemy` destination, merging on
`itemno`, with the `item` list landing in dlt's child table `orders__item`.
Prints one JSON line to stdout: row counts afterwards, wall and CPU time of
`pipeline.run`, and peak RSS. Everything else goes to stderr.

Called by benches/peer/run.sh, which provides a venv with `dlt[sqlalchemy]`:
    python dlt_ymcart.py --base-url URL --token TOKEN --db PATH [--page-size 100]
"""

import argparse
import json
import os
import resource
import sqlite3
import tempfile
import time

# Before importing dlt: no telemetry (the run must need no network) and only
# warnings, which dlt's logger writes to stderr.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402


def fail_on_vendor_error(response, *args, **kwargs):
    """YMCart reports errors as HTTP 200 with a non-zero `code`; dlt would
    otherwise read them as an empty page and stop quietly."""
    if response.ok:  # HTTP errors are left to dlt's raise_for_status
        body = response.json()
        if body.get("code") != 0:
            raise RuntimeError(f"YMCart error: {body}")


def without_positional_keys(value):
    """PHP repeats every column under its position ("0", "1", ...); a data
    engineer drops those twins rather than load 60 `_0`.. columns, and dlt is
    faster without them, so the comparison is the fairer for it."""
    if isinstance(value, dict):
        return {k: without_positional_keys(v) for k, v in value.items() if not k.isdigit()}
    if isinstance(value, list):
        return [without_positional_keys(v) for v in value]
    return value


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--page-size", type=int, default=100)
    args = ap.parse_args()
    db = os.path.abspath(args.db)

    source = rest_api_source(
        {
            "client": {"base_url": args.base_url},
            "resources": [
                {
                    "name": "orders",
                    "primary_key": "itemno",
                    "write_disposition": "merge",
                    "processing_steps": [{"map": without_positional_keys}],
                    "endpoint": {
                        "path": "api-erp-orderList.html",
                        "method": "POST",
                        # Query string, not a body: the vendor merges both.
                        "params": {"token": args.token, "page_size": args.page_size},
                        "data_selector": "data",
                        "paginator": {
                            "type": "page_number",
                            "page_param": "page_no",
                            "base_page": 1,
                            # `count` is a string of rows, not of pages: end
                            # on the first empty page instead.
                            "total_path": None,
                            "stop_after_empty_page": True,
                        },
                        "response_actions": [fail_on_vendor_error],
                    },
                }
            ],
        }
    )

    with tempfile.TemporaryDirectory(prefix="ordersync-peer-") as work:
        pipeline = dlt.pipeline(
            pipeline_name="ordersync_peer",
            pipelines_dir=work,
            destination=dlt.destinations.sqlalchemy(credentials=f"sqlite:///{db}"),
            # SQLite has no schemas: dlt keeps any other dataset in a sibling
            # file `<db>__<dataset>.db`; `main` is the --db file itself.
            dataset_name="main",
        )
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        pipeline.run(source)
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0

    with sqlite3.connect(db) as conn:
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        lines = conn.execute("SELECT count(*) FROM orders__item").fetchone()[0]

    print(
        json.dumps(
            {
                "tool": "dlt",
                "dlt_version": dlt.__version__,
                "orders": orders,
                "lines": lines,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu, 3),
                # Linux reports ru_maxrss in KiB.
                "peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
