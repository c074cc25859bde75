"""A contact key's and a lead touch's brand is their client's brand.

Both tables carry the brand beside the client (it leads their unique and list indexes). Two
foreign keys, one to the client and one to the brand, checked every row against two tables and
still let a row name a brand that is not its client's. One foreign key on (client, brand) to the
client's (id, brand) (crm 0008 makes that pair unique) says exactly what is meant, and costs a
thousand-lead batch three checks per lead fewer: the client exists, and the brand is its brand,
which in turn must exist."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0008_client_id_brand_key'),
        ('leads', '0009_contact_keys_probe_each'),
    ]

    operations = [
        # Django keeps on_delete (CASCADE, PROTECT) for both fields; the database keeps one key.
        migrations.AlterField(
            model_name='contactkey',
            name='brand',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.brand'),
        ),
        migrations.AlterField(
            model_name='contactkey',
            name='client',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contact_keys', to='crm.client'),
        ),
        migrations.AlterField(
            model_name='leadtouch',
            name='brand',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='crm.brand'),
        ),
        migrations.AlterField(
            model_name='leadtouch',
            name='client',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='lead_touches', to='crm.client'),
        ),
        migrations.RunSQL(
            "ALTER TABLE leads_contactkey ADD CONSTRAINT contact_key_client_brand_fk FOREIGN KEY (client_id, brand_id) "
            "REFERENCES crm_client (id, brand_id) DEFERRABLE INITIALLY DEFERRED; "
            "ALTER TABLE leads_leadtouch ADD CONSTRAINT touch_client_brand_fk FOREIGN KEY (client_id, brand_id) "
            "REFERENCES crm_client (id, brand_id) DEFERRABLE INITIALLY DEFERRED;",
            "ALTER TABLE leads_contactkey DROP CONSTRAINT contact_key_client_brand_fk; "
            "ALTER TABLE leads_leadtouch DROP CONSTRAINT touch_client_brand_fk;",
        ),
    ]
