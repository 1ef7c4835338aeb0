"""Provider webhooks → usage: signature checks and the mapping of parameters to usage with their keys.

Shared by the app-side helpers (usage_ledger_client.webhooks) and the ledger's own webhook endpoints, so a
webhook delivered to both, or retried by the provider, counts once.
"""

from usage_ledger_contract.webhooks._spec import InvalidSignatureError, UsageSpec

__all__ = ["InvalidSignatureError", "UsageSpec"]
