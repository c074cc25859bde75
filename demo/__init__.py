"""Demo data for people trying the CRM: `manage.py seed_demo` (see that command for the options).

What it makes, the same every time on an empty database (one fixed random seed; only the dates
move, since the history is laid out over the ~180 days before the run):

- two brands, Atlas Markets (atlas) and Nova FX (nova);
- three desks: Atlas's English-speaking sales desk (GB, IE, AU, ZA, NG, KE, NZ, SG), Atlas's
  Arabic sales desk (the Gulf, Egypt, Jordan) and Nova's retention desk (continental Europe);
- fifteen staff covering every role, with passwords that pass the password rules;
- 2,000 clients over every stage, weighted toward the markets retail brokers actually serve,
  each with attribution (source, campaign, UTM fields, affiliate and IB codes), tags, notes,
  tasks (some done, some overdue, some due today) and a timeline of events;
- email templates for the profile's composer (follow_up, deposit_help; English and Arabic) in
  both brands, and one email each agent wrote from one of them.

Two paths write clients, and their results look the same:

1. The first `via_services` clients go through crm.services (client_create,
   client_stage_change, note_add, task_create, task_complete) exactly as staff would make them
   (verified, funded and active through client_stage_prove, as KYC, the wallet and trading would),
   so the services' own validation, audit rows, history and events are exercised.
2. The rest are written in bulk, because one-by-one creation of 2,000 clients with their notes,
   tasks and stage changes takes minutes and `make run` seeds on first start. The bulk path
   writes what the services would: the rows, their simple_history rows (one per change, with
   the state after each change) and their Event rows with the same names and data shapes
   (client.created, client.stage_changed, note.added, task.created, task.completed), so the
   timeline and history of a bulk-made client are indistinguishable from a service-made one.
   One audit row ("demo.seed") records the bulk load; the audit log is not backdated.

Dates: each client's history is laid out in the past, so rows, history and events are
backdated to the moment each change "happened" (audit rows keep the real time of the seed).

Events: the seed's events describe the past. They are marked dispatched when written instead
of being handed to subscribers, which would otherwise act on months-old happenings (notify
owners of 2,000 "new" clients, fire webhooks) and flood the worker queue at first start.

Privileged roles: administrators, compliance and finance officers must use TOTP by default,
which would stop a first look at the demo at a QR code. The seed turns that requirement off
for the demo and says so; a production installation keeps it on.

The modules, by area:

    organisation.py     brands, desks and staff (the demo logins)
    markets.py          where clients live: markets, names, email domains
    funnel.py           stages, their timing, and attribution (sources, campaigns, tags)
    notes_and_tasks.py  what notes and tasks say
    emails.py           the composer's email templates
    plan.py             Planner: every client decided from the seed, before anything is written
    writer.py           seed(): the organisation, then the clients by both paths, then the day's work
                        and the agents' emails
    via_services.py     path 1: clients through crm.services, then backdated
    in_bulk.py          path 2: clients written in bulk
    rows.py             history rows and one-statement backdating
    checksums.py        plan_checksum, database_checksum: the same clients every run

The package itself imports none of them: make run's supervisor (demo.runner) and the schema
snapshot (demo.schema_snapshot) live here too and start before Django, so the seed is imported
from its modules (`from demo.writer import seed`).
"""
