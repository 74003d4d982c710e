"""Every section `prism-ir apply` knows; each room registers its own by being imported here."""

from prism_ir.services import config_oncall as config_oncall
from prism_ir.services import config_services as config_services
from prism_ir.services import config_users as config_users
