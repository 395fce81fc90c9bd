from django.apps import AppConfig
from django.db.models.signals import post_migrate

from paymint.core.registries import register_private_file_kind, register_upload_source


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and KYC/KYB"

    def ready(self) -> None:
        # The back-office roles (accounts.roles) are synced after every ``migrate`` by a
        # post_migrate receiver rather than created once by a data migration, because:
        # - permissions only exist once post_migrate has run (a migration would have to call
        #   create_permissions itself, against the historical models of that point);
        # - ROLES is current code: a data migration calling it is frozen at one point of the
        #   migration graph, so a later ROLES entry for a later model would break fresh
        #   databases, and every change of ROLES would need another migration to apply;
        # - flushing the database (TransactionTestCase, ``manage.py flush``) wipes the groups
        #   and replays post_migrate, not the data migrations.
        # ``migrate`` therefore always leaves the groups with exactly the permissions of ROLES.
        from .roles import roles_post_migrate  # why: roles.py imports models

        register_upload_source("accounts.KycDocument", user_field="uploaded_by",
                               size_field="size", time_field="uploaded_at")
        register_private_file_kind("kyc", "accounts.kyc_documents.kyc_document_file_for_viewer")

        post_migrate.connect(roles_post_migrate, sender=self,
                             dispatch_uid="accounts.roles.roles_post_migrate")
