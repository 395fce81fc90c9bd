"""factory-boy factories. Users and KYC go through the real services where status matters."""

from __future__ import annotations

import factory

from accounts.enums import KycKind, KycStatus, Role
from accounts.models import KycProfile, User

PASSWORD = "correct-horse-battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    role = Role.INVESTOR
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    class Params:
        seller = factory.Trait(role=Role.SELLER)
        investor = factory.Trait(role=Role.INVESTOR)
        staff = factory.Trait(role=Role.STAFF, is_staff=True, is_superuser=True)


class KycProfileFactory(factory.django.DjangoModelFactory):
    """A KYC/KYB profile in any status; ``approved`` is the usual trait."""

    class Meta:
        model = KycProfile

    user = factory.SubFactory(UserFactory)
    kind = factory.LazyAttribute(lambda o: KycKind.KYB if o.user.role == Role.SELLER
                                 else KycKind.KYC)
    legal_name = factory.Sequence(lambda n: f"Company {n} GmbH")
    country = "DE"
    tax_id = "DE136695976"
    tax_id_scheme = "stdnum.eu.vat"
    status = KycStatus.DRAFT

    class Params:
        pending = factory.Trait(status=KycStatus.PENDING_REVIEW)
        approved = factory.Trait(status=KycStatus.APPROVED, decision_reason="Approved")
        rejected = factory.Trait(status=KycStatus.REJECTED, decision_reason="Blurry document")
