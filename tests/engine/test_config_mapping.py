"""Other documents through config alone: an orders store shadowed into two tables, audited by
the CLI with a TOML file and no Python code; plus tolerances. (Config parsing and its errors:
tests/test_config.py.)"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import audit_cli, run_cli

ORDERS_TOML = """
[source]
name = "orders"
primary = { name = "order", pattern = "orders/*.json", key = "id" }

[[entity]]
table = "orders"
document = "order"
key_column = "order_id"
fields = [
  { column = "customer", path = "customer" },
  { column = "total", path = "total", type = "real" },
  { column = "placed_at", path = "placed_at", type = "timestamp" },
  { column = "tags", path = "tags", type = "json", set_like = true },
]

[[entity]]
table = "order_lines"
document = "order"
parent = "orders"
link_column = "order_id"
parent_column = "order_id"
rows_from = "lines"
key_column = "line_no"
key_path = "no"
key_type = "integer"
fields = [
  { column = "sku", path = "sku" },
  { column = "qty", path = "qty", type = "integer" },
  { column = "price", path = "price", type = "real" },
]

[tolerances]
"orders.total" = { abs = 0.005 }
"""

ORDERS = [
    {"id": "A-1", "customer": "ada", "total": 30.0, "placed_at": "2026-01-02T10:00:00Z",
     "tags": ["gift", "rush"], "lines": [{"no": 1, "sku": "pen", "qty": 2, "price": 5.0},
                                         {"no": 2, "sku": "ink", "qty": 1, "price": 20.0}]},
    {"id": "B-2", "customer": "bob", "total": 12.5, "placed_at": "2026-01-03T09:30:00+01:00",
     "tags": [], "lines": [{"no": 1, "sku": "pad", "qty": 5, "price": 2.5}]},
]  # fmt: skip


def orders_store(tmp_path: Path) -> tuple[Path, Path, Path]:
    """JSON files and a database made by hand, the way another application would."""
    src = tmp_path / "src"
    (src / "orders").mkdir(parents=True)
    for order in ORDERS:
        (src / "orders" / f"{order['id']}.json").write_text(json.dumps(order, indent=1))
    db = tmp_path / "orders.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE orders (id INTEGER PRIMARY KEY, order_id TEXT UNIQUE, customer TEXT,
                             total REAL, placed_at TEXT, tags TEXT);
        CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id TEXT, line_no INTEGER,
                                  sku TEXT, qty INTEGER, price REAL);
        INSERT INTO orders VALUES (1, 'A-1', 'ada', 30.001, '2026-01-02T10:00:00+00:00', '["rush","gift"]');
        INSERT INTO orders VALUES (2, 'B-2', 'bob', 12.5, '2026-01-03T08:30:00Z', '[]');
        INSERT INTO order_lines VALUES (1, 'A-1', 1, 'pen', 2, 5.0), (2, 'A-1', 2, 'ink', 1, 20.0),
                                       (3, 'B-2', 1, 'pad', 5, 2.5);
        """
    )
    conn.commit()
    conn.close()
    config = tmp_path / "orders.toml"
    config.write_text(ORDERS_TOML)
    return src, db, config


cli = run_cli


def test_orders_store_is_audited_through_config_alone(tmp_path):
    src, db, config = orders_store(tmp_path)
    out = tmp_path / "out"
    clean = audit_cli(
        src,
        db,
        out,
        "--config",
        str(config),
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "GREEN"
    assert report["summary"]["order_lines"]["matched"] == 3
    assert report["normalizers"]["float_tolerance"] == 1
    assert report["normalizers"]["timestamp_instant"] == 2
    assert report["normalizers"]["list_as_set"] == 1

    conn = sqlite3.connect(db)
    conn.execute("UPDATE order_lines SET qty = 3 WHERE order_id = 'A-1' AND line_no = 1")
    conn.execute("DELETE FROM order_lines WHERE order_id = 'B-2'")
    conn.commit()
    conn.close()
    drift = audit_cli(
        src,
        db,
        out,
        "--config",
        str(config),
    )
    assert drift.returncode == 1
    report = json.loads((out / "report.json").read_text())
    got = {(f["kind"], f["entity"], f["key"], f["field"], f["path"]) for f in report["findings"]}
    assert got == {
        ("value_mismatch", "order_lines", "A-1/1", "qty", "lines[].qty"),
        ("missing_in_shadow", "order_lines", "B-2/1", None, "lines[].no"),
    }
