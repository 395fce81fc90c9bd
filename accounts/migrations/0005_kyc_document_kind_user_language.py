from django.db import migrations, models


def kinds_from_profiles(apps, schema_editor):
    """Documents uploaded before kinds existed were the one document onboarding asked for:
    the identity document of an individual (KYC) or the register extract of a company (KYB)."""
    KycDocument = apps.get_model("accounts", "KycDocument")
    KycDocument.objects.filter(profile__kind="KYC").update(kind="IDENTITY")
    KycDocument.objects.filter(profile__kind="KYB").update(kind="COMPANY_REGISTRATION")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_sign_in_challenge"),
    ]

    operations = [
        migrations.AddField(
            model_name="kycdocument",
            name="kind",
            field=models.CharField(
                choices=[
                    ("IDENTITY", "Passport or national identity card"),
                    ("COMPANY_REGISTRATION", "Company register extract"),
                    ("PROOF_OF_ADDRESS", "Proof of address"),
                    ("OTHER", "Other supporting document"),
                ],
                default="OTHER",
                max_length=24,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(kinds_from_profiles, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="kycdocument",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("kind__in", ["IDENTITY", "COMPANY_REGISTRATION", "PROOF_OF_ADDRESS", "OTHER"])
                ),
                name="kyc_document_kind_valid",
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="language",
            field=models.CharField(
                choices=[("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("hi", "हिन्दी")],
                default="en",
                help_text="The language (and locale for amounts and dates) of the user's emails and notifications.",
                max_length=8,
            ),
        ),
    ]
