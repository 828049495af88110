"""The portal: server-rendered pages over the service layer, served by ``jobclock serve``."""

from jobclock.web.routes import create_portal, with_portal

__all__ = ["create_portal", "with_portal"]
