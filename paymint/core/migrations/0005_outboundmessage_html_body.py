from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_deferred_task"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboundmessage",
            name="html_body",
            field=models.TextField(
                blank=True, help_text="The HTML alternative of the body (empty: plain text only)."
            ),
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="body",
            field=models.TextField(help_text="The plain-text part (every email has one)."),
        ),
    ]
