from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import F, Q


class AuditLog(models.Model):
    """Append-only, hash-chained record of every change that matters.

    Rows are written only by `crm.audit.audit_record`, unsealed; `crm.audit.audit_seal` then gives
    each its place in the chain (`seq`), the SHA-256 of the row before it (`prev_hash`) and of its
    own content including `prev_hash` (`hash`). PostgreSQL triggers (migrations 0002, 0014) refuse
    UPDATE and DELETE, except that one sealing update of an unsealed row, and `manage.py
    audit_verify` walks the chain and names the first row that does not match.

    The table is partitioned by month on `at` (crm migration 0027, crm.lib.partitions): the database's
    keys hold `at` ((id, at), (seq, at), (hash, at)); one place per row in the chain is kept by the
    sealer, which alone numbers rows, under its lock, and `verify_chain` names rows sharing a place.
    `id` stays the model's key.
    """

    at = models.DateTimeField()
    actor = models.ForeignKey("crm.User", on_delete=models.DO_NOTHING, db_constraint=False,
                              null=True, blank=True, related_name="+")
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, blank=True)
    # Empty until the row is sealed (crm.audit.audit_seal).
    seq = models.BigIntegerField(null=True, blank=True,
                                 help_text="Position in the chain, set when the row is sealed.")
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - empty until sealed
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - empty until sealed
    # The brand the audited object belongs to (none for system-wide rows: rates, roles, staff of
    # several brands). Who may read the row follows it (crm.permissions.audit_queryset_for_user). Not
    # part of the hash: rows written before the column existed still verify.
    brand = models.ForeignKey("crm.Brand", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
                              related_name="+")

    class Meta:
        ordering = ["-id"]
        constraints: ClassVar = [
            # With `at`, as a partitioned table's unique keys must be (the chain is walked by seq).
            models.UniqueConstraint(fields=["seq", "at"], name="audit_seq_unique"),
            models.UniqueConstraint(fields=["hash", "at"], name="audit_hash_unique"),
        ]
        indexes: ClassVar = [
            models.Index(F("object_type"), F("object_id"), F("id").desc(), name="audit_object_idx"),
            models.Index(F("actor"), F("id").desc(), name="audit_actor_idx"),
            # A brand-limited reader's page: the newest rows of their brands, by index.
            models.Index(F("brand"), F("id").desc(), name="audit_brand_idx"),
            # The sealer's backlog: rows committed but not yet in the chain.
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="audit_unsealed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class AuditCheckpoint(models.Model):
    """The audit chain's head at one moment, signed: an anchor outside the chain itself.

    The chain shows that no row between its first and last was changed or removed, but not that
    rows were removed from its end. A checkpoint records the head's id and hash and the number of
    rows up to it, signed with a key the database does not hold (crm.audit.audit_checkpoint_write);
    `audit_verify` then names rows that a checkpoint saw and the table no longer has. The
    application's role may only read and append here, and triggers (migration 0009) refuse UPDATE,
    DELETE and TRUNCATE.
    """

    at = models.DateTimeField()
    head_id = models.BigIntegerField(help_text="Id of the newest audit row; 0 when the log was empty.")
    head_hash = models.CharField(max_length=64)
    row_count = models.BigIntegerField()
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"checkpoint {self.at:%Y-%m-%d %H:%M} head {self.head_id}"


class AuditArchiveAnchor(models.Model):
    """Where the archived part of the audit chain ended: one row per audit month archived.

    When a month of the audit log goes to its file (crm.lib.partitions, `partitions_archive`), the
    chain's first remaining row points at a row no longer in the table. The anchor records the month
    (its first and last `seq`, the last row's hash, its row count, the SHA-256 of its file) and the
    bridge: `chain_seq`/`chain_hash`, the end of the archived chain's unbroken run (every row up to
    `chain_seq` is archived), and `ghosts`, the archived rows sealed after that point ([seq,
    prev_hash, hash]: a row of the month's last seconds whose transaction committed after rows of the
    next month were sealed). `audit_verify` starts from the newest anchor and walks through its
    ghosts. Signed like a checkpoint; written in the transaction that drops the month; the application
    may only read and append here, and triggers (crm migration 0031) refuse UPDATE, DELETE and TRUNCATE.
    """

    month = models.DateField(unique=True, help_text="The first day of the archived month.")
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    last_hash = models.CharField(max_length=64)
    row_count = models.BigIntegerField()
    file_sha256 = models.CharField(max_length=64)
    data_file = models.CharField(max_length=200)
    chain_seq = models.BigIntegerField()
    chain_hash = models.CharField(max_length=64)
    ghosts = models.JSONField(default=list, blank=True)
    at = models.DateTimeField()
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"audit archive {self.month:%Y-%m} (seq {self.first_seq}-{self.last_seq})"


class AccessKind(models.TextChoices):
    VIEW = "view", "Viewed profile"
    REVEAL_EMAIL = "reveal_email", "Revealed email"
    REVEAL_PHONE = "reveal_phone", "Revealed phone"
    EXPORT = "export", "Exported"
    SEARCH = "search", "Searched"


class AccessEvent(models.Model):
    """A staff member looked at personal data. High volume; agent monitoring reads it.

    The table is partitioned by month on `at` (crm migration 0028, crm.lib.partitions): its primary key
    in the database is (id, at); `id` stays the model's key."""

    user = models.ForeignKey("crm.User", on_delete=models.PROTECT, related_name="access_events")
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    # How many rows an export wrote or a search answered (None for a view or a reveal).
    rows = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes: ClassVar = [
            models.Index(F("user"), F("at").desc(), name="access_user_recent_idx"),
            models.Index(F("client"), F("at").desc(), name="access_client_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.user_id} at {self.at:%Y-%m-%d %H:%M}"
