from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # The audit trail: which models' changes django-auditlog records, login/logout events.
        from .audit import register_audited_models  # why: audit imports models

        register_audited_models()
