"""Email templates, outgoing emails and automation rules move out of the core into the emails and
automation apps: their tables are renamed to the new apps' names (the rows are kept) and the models
leave crm's state, which emails.0001 and automation.0001 take over. Content types (and so the
permissions granted on them) are relabelled rather than made anew."""

from django.db import migrations

EMAILS = ("emailtemplate", "historicalemailtemplate", "outboundemail")
AUTOMATION = ("automationrule", "historicalautomationrule", "automationrun")
MOVES = {**{model: "emails" for model in EMAILS}, **{model: "automation" for model in AUTOMATION}}


def relabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, app in MOVES.items():
        content_type.objects.using(schema_editor.connection.alias).filter(app_label="crm", model=model).update(
            app_label=app)


def unlabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model, app in MOVES.items():
        content_type.objects.using(schema_editor.connection.alias).filter(app_label=app, model=model).update(
            app_label="crm")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0017_published_views"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(model, f"{app}_{model}") for model, app in MOVES.items()
            ],
            state_operations=[
                migrations.DeleteModel("automationrun"),
                migrations.DeleteModel("historicalautomationrule"),
                migrations.DeleteModel("automationrule"),
                migrations.DeleteModel("outboundemail"),
                migrations.DeleteModel("historicalemailtemplate"),
                migrations.DeleteModel("emailtemplate"),
            ],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types, elidable=True),
    ]
