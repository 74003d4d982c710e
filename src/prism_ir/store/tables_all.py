"""Import every room's tables so Base.metadata is complete (migrations check, create_all in tests)."""

from prism_ir.store import tables as tables
from prism_ir.store import tables_ingest as tables_ingest
from prism_ir.store import tables_oncall as tables_oncall
from prism_ir.store.tables import Base as Base

metadata = Base.metadata
