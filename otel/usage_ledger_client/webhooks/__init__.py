"""Provider webhooks → usage, for the app's own handlers (framework-agnostic).

    from usage_ledger_client.webhooks import TwilioWebhook, SendGridEventWebhook, InvalidSignatureError

Every helper checks the provider's signature first and raises InvalidSignatureError (answer 403) before
anything is recorded. Keys are the provider's ids, so retried deliveries count once.
"""

from usage_ledger_client.webhooks.sendgrid import SendGridEventWebhook
from usage_ledger_client.webhooks.twilio import TwilioWebhook
from usage_ledger_contract.webhooks import InvalidSignatureError, UsageSpec

__all__ = ["InvalidSignatureError", "SendGridEventWebhook", "TwilioWebhook", "UsageSpec"]
