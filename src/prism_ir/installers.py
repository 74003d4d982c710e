"""Import each room that wires itself into the container (one line per room)."""
from prism_ir.engine import install as install
from prism_ir.services import ingest_install as ingest_install
