"""The application, as a real second process for the repair tests: saves one project through
the dual writer (under the unit's lock, JSON then SQLite) and exits.

    python repair_app.py SOURCE SHADOW PROJECT.json   (PROJECT.json: [manifest, memory])
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shadow_audit.dualwrite import DualWriter
from shadow_audit.stores.json_store import JsonStore
from shadow_audit.stores.sqlite_shadow import SqliteShadow

if __name__ == "__main__":
    source, shadow, project = (Path(a) for a in sys.argv[1:4])
    manifest, memory = json.loads(project.read_text())
    print("saving", flush=True)  # a barrier for tests: next comes the unit's lock
    result = DualWriter(JsonStore(source), SqliteShadow(shadow, create=False)).save_project(
        manifest, memory
    )
    sys.exit(0 if result.shadow_ok else 1)
