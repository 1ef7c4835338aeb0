"""Provider webhooks → usage, for the app's own handlers (framework-agnostic) and the ledger's endpoints.

    from otel.webhooks import TwilioWebhook, SendGridEventWebhook, InvalidSignatureError

Every helper checks the provider's signature first and raises InvalidSignatureError (answer 403) before
anything is recorded. Keys are the provider's ids, so retried deliveries count once.
"""

from otel.webhooks._spec import InvalidSignatureError, UsageSpec
from otel.webhooks.sendgrid import SendGridEventWebhook
from otel.webhooks.twilio import TwilioWebhook

__all__ = ["InvalidSignatureError", "SendGridEventWebhook", "TwilioWebhook", "UsageSpec"]
