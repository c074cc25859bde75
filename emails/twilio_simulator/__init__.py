"""A stand-in for Twilio's Programmable Messaging API (version 2010-04-01): a separate process on
loopback that the CRM reaches only through emails.twilio, as it would reach api.twilio.com. It
imports nothing of Django or the CRM (simkit for the server, the fault rules and the callbacks).

Running it::

    python -m emails.twilio_simulator --host 127.0.0.1 --port 8510 --state-dir var/twiliosim

prints ``{"event": "listening", "port": 8510, "account_sid": ..., "config": ".../config.json"}``;
the account SID, auth token, sender number and control token are in that file (or given with
``--account-sid``, ``--auth-token``, ``--from-number``, ``--control-token``).

Messaging API (HTTP Basic with the account SID and auth token; form-encoded; JSON answers)::

    POST /2010-04-01/Accounts/<AccountSid>/Messages.json        To, From | MessagingServiceSid, Body,
                                                                StatusCallback -> 201 queued
    GET  /2010-04-01/Accounts/<AccountSid>/Messages/<Sid>.json  the message as it is now

Refusals are Twilio's: ``{"code", "message", "more_info", "status"}``: 20003 authentication (401),
21211 invalid 'To' number, 21602 no body, 21603 no sender, 21610 the recipient replied STOP,
21408 region not enabled (400), 20429 too many requests (429, the ``too_many_requests`` fault).
Test numbers: +15005550001 is invalid, +15005550004 has replied STOP; ``/_sim/numbers`` marks others.

Status callbacks: each message goes queued -> sent -> delivered (``--step-seconds`` apart), or
undelivered (ErrorCode 30003) or failed (30008) for numbers marked so; form POSTs to the
message's StatusCallback with MessageSid, MessageStatus, ErrorCode, AccountSid, From, To,
ApiVersion, signed in ``X-Twilio-Signature`` (base64 HMAC-SHA1 with the auth token over the URL and
the sorted parameters), sent again with backoff until a 2xx answer.

Control API (header ``X-Sim-Token``)::

    GET|POST /_sim/faults {"faults": [...]}   POST /_sim/faults/clear   (types in faults.py)
    GET|POST /_sim/config {"inbound_url", "step_seconds"}   where inbound messages go
    POST /_sim/numbers {"number", "fate"}      delivered | undelivered | failed | invalid | region | opted_out
    POST /_sim/inbound {"from", "body"}        a client texts the sender number (STOP, START, HELP...):
                                               signed to the inbound URL; STOP makes later sends 21610
    GET  /_sim/messages                        every message sent
    POST /_sim/webhooks/flush                  releases callbacks held for reordering
    GET  /_sim/webhooks                        every callback sent or pending
"""
