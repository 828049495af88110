"""The Azure-compatible REST API (ARM paths, api-version 2016-03-01) over the services."""

from jobclock.api.app import create_app

__all__ = ["create_app"]
