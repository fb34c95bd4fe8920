"""FormRecord.saved_items: the names of the items with a saved value, derived from the values
of the records already in the store; an index of each site's subjects by screening date."""

from django.db import migrations, models

from trialdesk.store.models import saved_item_names


def fill_saved_items(apps, schema_editor):
    FormRecord = apps.get_model("store", "FormRecord")
    batch = []
    for record in FormRecord.objects.only("pk", "values").iterator(chunk_size=2000):
        record.saved_items = saved_item_names(record.values)
        batch.append(record)
        if len(batch) == 2000:
            FormRecord.objects.bulk_update(batch, ["saved_items"])
            batch = []
    FormRecord.objects.bulk_update(batch, ["saved_items"])


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0008_monitoring_queries_sdv_signatures_locks"),
    ]

    operations = [
        migrations.AddField(
            model_name="formrecord",
            name="saved_items",
            field=models.TextField(default="", editable=False),
        ),
        migrations.RunPython(fill_saved_items, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="subject",
            index=models.Index(fields=["site", "screened_on"], name="subject_site_screened"),
        ),
    ]
