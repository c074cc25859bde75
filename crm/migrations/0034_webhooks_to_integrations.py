"""Outbound webhooks move out of the core into the integrations app: their tables are renamed to the
new app's names (the rows are kept) and the models leave crm's state, which integrations.0001 takes
over. Content types (and so the permissions granted on them) are relabelled rather than made anew, and
the event stream's receipts of the webhooks' handler follow it to its new module (a handler's dotted
name is its identity: its failed deliveries are retried under the new name, not lost)."""

from django.db import migrations

MODELS = ("webhookattempt", "webhookdelivery", "historicalwebhooksubscriber", "webhooksubscriber")


def relabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.using(schema_editor.connection.alias).filter(app_label="crm", model__in=MODELS).update(
        app_label="integrations")


def unlabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.using(schema_editor.connection.alias).filter(
        app_label="integrations", model__in=MODELS).update(app_label="crm")


OLD_HANDLER = "crm.handlers.webhook_deliveries_queue"
NEW_HANDLER = "integrations.handlers.webhook_deliveries_queue"


def rename_handler(apps, schema_editor):
    delivery = apps.get_model("crm", "EventDelivery")
    delivery.objects.using(schema_editor.connection.alias).filter(handler=OLD_HANDLER).update(handler=NEW_HANDLER)


def unrename_handler(apps, schema_editor):
    delivery = apps.get_model("crm", "EventDelivery")
    delivery.objects.using(schema_editor.connection.alias).filter(handler=NEW_HANDLER).update(handler=OLD_HANDLER)


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0033_client_owner_index_covers_the_book"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable(model, f"integrations_{model}") for model in MODELS],
            state_operations=[
                migrations.DeleteModel("webhookattempt"),
                migrations.DeleteModel("webhookdelivery"),
                migrations.DeleteModel("historicalwebhooksubscriber"),
                migrations.DeleteModel("webhooksubscriber"),
            ],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types, elidable=True),
        migrations.RunPython(rename_handler, unrename_handler, elidable=True),
    ]
