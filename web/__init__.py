"""The tenant usage page (/settings/billing/usage): page controller, templates and static assets."""
