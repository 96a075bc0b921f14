"""A real SMTP server for the mail tests (tests/api/mail.rs and the reset and two-factor tests):
aiosmtpd from PyPI (scripts/test.sh installs it into a cached virtualenv), storing every mail it
receives as one JSON file in the directory named by PLAUDER_TEST_SMTP_DIR: envelope sender and
recipients, and the parsed message's subject, headers, plain-text and HTML parts (decoded from
their transfer encoding by Python's email package, so the tests read the text a mail reader
shows). Files appear atomically (written, then renamed). Prints the port it listens on first.

Each mail's DKIM signature is verified by dkimpy (an implementation independent of plauder's
lettre) against the TXT records in PLAUDER_TEST_SMTP_DKIM_DNS, a JSON object of names
("<selector>._domainkey.<domain>") to record texts, instead of DNS: the record's "dkim" says
whether the mail was signed, for which domain and selector, which headers the signature covers,
and whether it verified.

Usage: PLAUDER_TEST_SMTP_DIR=DIR smtp_server.py PORT   (PORT 0 picks a free one)
"""
import asyncio
import email
import email.policy
import json
import os
import sys
import time

import dkim
from aiosmtpd.smtp import SMTP

OUT = os.environ["PLAUDER_TEST_SMTP_DIR"]
DNS = json.loads(os.environ.get("PLAUDER_TEST_SMTP_DKIM_DNS") or "{}")


def txt(name, timeout=5):
    """dkimpy's DNS lookup, answered from PLAUDER_TEST_SMTP_DKIM_DNS (`name` comes as bytes)."""
    record = DNS.get(name.decode().rstrip("."))
    return record.encode() if record is not None else None


def verify_dkim(content):
    try:
        signer = dkim.DKIM(content)
    except dkim.DKIMException as e:
        return {"signed": None, "error": str(e)}
    if not any(name.lower() == b"dkim-signature" for name, _ in signer.headers):
        return {"signed": False}
    try:
        verified, error = signer.verify(dnsfunc=txt), None
    except dkim.DKIMException as e:
        verified, error = False, str(e)
    return {
        "signed": True,
        "verified": bool(verified),
        "error": error,
        "domain": signer.domain and signer.domain.decode(),
        "selector": signer.selector and signer.selector.decode(),
        "headers": [h.decode() for h in getattr(signer, "include_headers", ())],
    }


def part(message, subtype):
    body = message.get_body((subtype,))
    return body.get_content() if body is not None else None


class Handler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "from": str(message["from"]),
            "to": str(message["to"]),
            "message_id": str(message["message-id"]),
            "content_type": message.get_content_type(),
            "list_unsubscribe": message["list-unsubscribe"] and str(message["list-unsubscribe"]),
            "list_unsubscribe_post": message["list-unsubscribe-post"] and str(message["list-unsubscribe-post"]),
            "text": part(message, "plain"),
            "html": part(message, "html"),
            "dkim": verify_dkim(envelope.original_content or envelope.content),
        }
        self.count += 1
        name = os.path.join(OUT, "%d-%04d.json" % (time.time_ns(), self.count))
        with open(name + ".tmp", "w") as out:
            json.dump(record, out)
        os.rename(name + ".tmp", name)
        return "250 Message accepted"


async def main():
    handler = Handler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="plauder-test-smtp"), "127.0.0.1", int(sys.argv[1])
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
