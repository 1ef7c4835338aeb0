"""Loopback stand-ins for the Twilio, SendGrid and OpenAI APIs, reached through each official SDK's own options.

They answer with the shapes the providers' API references document and return provider errors on demand
(`respond_next(...)`). They are for tests and benchmarks only: nothing here is a mock of our code.
"""

from harness.standins.openai import OpenAIStandin, openai_error
from harness.standins.sendgrid import EventWebhookSigner, SendGridStandin, sendgrid_error
from harness.standins.twilio import AsyncStandinHttpClient, StandinHttpClient, TwilioStandin, twilio_error

__all__ = [
    "AsyncStandinHttpClient",
    "EventWebhookSigner",
    "OpenAIStandin",
    "SendGridStandin",
    "StandinHttpClient",
    "TwilioStandin",
    "openai_error",
    "sendgrid_error",
    "twilio_error",
]
