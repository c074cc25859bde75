"""Active traders as bitmaps (reports.models.TraderBitmap): one bit per client per day, brand and desk,
so that the dashboard counts distinct traders over a period with one bit_or per chunk of client ids
instead of distinct ids over every client-day. Filled here from the existing client-days."""

import django.db.models.deletion
import reports.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0025_month_partitions'),
        ('reports', '0002_floating_figures'),
    ]

    operations = [
        migrations.CreateModel(
            name='TraderBitmap',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('desk_id', models.BigIntegerField(default=0)),
                ('chunk', models.IntegerField()),
                ('bits', reports.models.BitStringField(length=8192)),
                ('brand', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crm.brand')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='reports_traderbitmap_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('brand', 'day', 'desk_id', 'chunk'), name='reports_traderbitmap_one_row')],
            },
        ),
        migrations.RunSQL(
            "INSERT INTO reports_traderbitmap (day, brand_id, desk_id, chunk, bits) "
            "SELECT day, brand_id, desk_id, (client_id / 8192)::int, "
            "bit_or(set_bit(B'0'::bit(8192), (client_id % 8192)::int, 1)) "
            "FROM reports_dailytrader GROUP BY 1, 2, 3, 4",
            migrations.RunSQL.noop),
    ]
