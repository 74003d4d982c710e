"""SMS through the deployment's apprise gateway URL template, e.g. `twilio://SID:TOKEN@+1555…/{phone}`."""

from __future__ import annotations

from prism_ir.integrations.notifiers.apprise_channel import AppriseNotifier
from prism_ir.integrations.notifiers.base import Message, SendResult


def sms_url(template: str, phone: str) -> str:
    digits = ("+" if phone.strip().startswith("+") else "") + "".join(ch for ch in phone if ch.isdigit())
    return template.replace("{phone}", digits).replace("{phone_digits}", digits.lstrip("+"))


class SmsNotifier:
    def __init__(self, template: str) -> None:
        self._template = template
        self._apprise = AppriseNotifier()

    async def send(self, address: str, message: Message) -> SendResult:
        if not self._template:
            return SendResult.fail("no SMS gateway: set PRISM_IR_SMS_URL_TEMPLATE to an apprise URL with {phone}")
        short = Message(**{**message.__dict__, "body": f"{message.subject}\n{message.incident_url}"})
        return await self._apprise.send(sms_url(self._template, address), short)
