"""Read side: tenant-scoped usage summaries and event listings (query parameters, time zones, cursors)."""
