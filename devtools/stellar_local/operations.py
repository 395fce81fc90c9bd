"""How the local network applies each classic operation (a mixin of :class:`LocalLedger`).

Each handler mutates the working copies of the accounts it is given and raises
:class:`OpFailed` with the operation result code stellar-core would give; the caller rolls
the whole transaction back."""

from __future__ import annotations

from stellar_sdk import Asset
from stellar_sdk.operation import (
    AccountMerge,
    AllowTrust,
    BumpSequence,
    ChangeTrust,
    Clawback,
    CreateAccount,
    ManageData,
    Payment,
    SetOptions,
    SetTrustLineFlags,
)
from stellar_sdk.signer_key import SignerKeyType

from settlements.stellar.protocol import (
    AUTH_CLAWBACK_ENABLED,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    BASE_RESERVE,
    MAX_SIGNERS,
    TL_AUTHORIZED,
    TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES,
    TL_CLAWBACK_ENABLED,
    to_stroops,
)

from .state import AccountState, OpFailed, TrustLine, asset_key, flag_value


class OperationsMixin:
    """Operation handlers of :class:`~.ledger.LocalLedger` (``_apply_op`` dispatches)."""

    def _apply_op(self, op, source_id: str, accounts: dict[str, AccountState], ledger: int) -> None:
        source = accounts.get(source_id)
        if source is None:
            raise OpFailed("op_no_source_account")
        source.last_modified_ledger = ledger
        if isinstance(op, Payment):
            self._payment(op, source, accounts, ledger)
        elif isinstance(op, CreateAccount):
            self._create_account(op, source, accounts, ledger)
        elif isinstance(op, ChangeTrust):
            self._change_trust(op, source, accounts, ledger)
        elif isinstance(op, SetOptions):
            self._set_options(op, source)
        elif isinstance(op, SetTrustLineFlags):
            self._set_trust_line_flags(
                source,
                op.trustor,
                op.asset,
                flag_value(op.clear_flags),
                flag_value(op.set_flags),
                accounts,
                ledger,
            )
        elif isinstance(op, AllowTrust):
            asset = Asset(op.asset_code, source_id)
            authorize = int(op.authorize)
            clear = (TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES) & ~authorize
            self._set_trust_line_flags(
                source, op.trustor, asset, clear, authorize, accounts, ledger, allow_trust=True
            )
        elif isinstance(op, ManageData):
            self._manage_data(op, source)
        elif isinstance(op, Clawback):
            self._clawback(op, source, accounts, ledger)
        elif isinstance(op, AccountMerge):
            self._account_merge(op, source, accounts, ledger)
        elif isinstance(op, BumpSequence):
            if op.bump_to < 0:
                raise OpFailed("op_bad_seq")
            source.sequence = max(source.sequence, op.bump_to)
        else:
            raise OpFailed("op_not_supported")

    @staticmethod
    def _amount(value) -> int:
        try:
            stroops = to_stroops(value)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        if stroops <= 0:
            raise OpFailed("op_malformed")
        return stroops

    def _payment(self, op: Payment, source: AccountState, accounts, ledger: int) -> None:
        amount = self._amount(op.amount)
        destination = accounts.get(op.destination.account_id)
        if destination is None:
            raise OpFailed("op_no_destination")
        asset = op.asset
        if asset.is_native():
            if source.available < amount:
                raise OpFailed("op_underfunded")
            source.balance -= amount
            destination.balance += amount
            destination.last_modified_ledger = ledger
            return
        key = asset_key(asset)
        if asset.issuer not in accounts:
            raise OpFailed("op_no_issuer")
        source_line = None
        if source.account_id != asset.issuer:
            source_line = source.trustlines.get(key)
            if source_line is None:
                raise OpFailed("op_src_no_trust")
            if not source_line.flags & TL_AUTHORIZED:
                raise OpFailed("op_src_not_authorized")
            if source_line.balance < amount:
                raise OpFailed("op_underfunded")
        dest_line = None
        if destination.account_id != asset.issuer:
            dest_line = destination.trustlines.get(key)
            if dest_line is None:
                raise OpFailed("op_no_trust")
            if not dest_line.flags & TL_AUTHORIZED:
                raise OpFailed("op_not_authorized")
            if dest_line.balance + amount > dest_line.limit:
                raise OpFailed("op_line_full")
        if source_line is not None:
            source_line.balance -= amount
            source_line.last_modified_ledger = ledger
        if dest_line is not None:
            dest_line.balance += amount
            dest_line.last_modified_ledger = ledger
            destination.last_modified_ledger = ledger

    def _create_account(
        self, op: CreateAccount, source: AccountState, accounts, ledger: int
    ) -> None:
        try:
            starting = to_stroops(op.starting_balance)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        if starting < 0 or op.destination == source.account_id:
            raise OpFailed("op_malformed")
        if op.destination in accounts:
            raise OpFailed("op_already_exists")
        if starting < 2 * BASE_RESERVE:
            raise OpFailed("op_low_reserve")
        if source.available < starting:
            raise OpFailed("op_underfunded")
        source.balance -= starting
        accounts[op.destination] = AccountState(
            account_id=op.destination,
            balance=starting,
            sequence=ledger << 32,
            last_modified_ledger=ledger,
        )

    def _change_trust(self, op: ChangeTrust, source: AccountState, accounts, ledger: int) -> None:
        asset = op.asset
        if not isinstance(asset, Asset) or asset.is_native():
            raise OpFailed("op_malformed")
        if asset.issuer == source.account_id:
            raise OpFailed("op_malformed")
        try:
            limit = to_stroops(op.limit)
        except ValueError as exc:
            raise OpFailed("op_malformed") from exc
        key = asset_key(asset)
        line = source.trustlines.get(key)
        if line is not None:
            if limit == 0:
                if line.balance:
                    raise OpFailed("op_invalid_limit")
                del source.trustlines[key]
                return
            if limit < line.balance:
                raise OpFailed("op_invalid_limit")
            line.limit = limit
            line.last_modified_ledger = ledger
            return
        if limit == 0:
            raise OpFailed("op_invalid_limit")
        issuer = accounts.get(asset.issuer)
        if issuer is None:
            raise OpFailed("op_no_issuer")
        if source.balance < source.min_balance(extra_subentries=1):
            raise OpFailed("op_low_reserve")
        flags = 0 if issuer.flags & AUTH_REQUIRED else TL_AUTHORIZED
        if issuer.flags & AUTH_CLAWBACK_ENABLED:
            flags |= TL_CLAWBACK_ENABLED
        source.trustlines[key] = TrustLine(limit=limit, flags=flags, last_modified_ledger=ledger)

    def _set_options(self, op: SetOptions, account: AccountState) -> None:
        set_flags, clear_flags = flag_value(op.set_flags), flag_value(op.clear_flags)
        known = AUTH_REQUIRED | AUTH_REVOCABLE | AUTH_IMMUTABLE | AUTH_CLAWBACK_ENABLED
        if (set_flags | clear_flags) & ~known:
            raise OpFailed("op_unknown_flag")
        if set_flags & clear_flags:
            raise OpFailed("op_bad_flags")
        if (set_flags or clear_flags) and account.flags & AUTH_IMMUTABLE:
            raise OpFailed("op_cant_change")
        flags = (account.flags | set_flags) & ~clear_flags
        if flags & AUTH_CLAWBACK_ENABLED and not flags & AUTH_REVOCABLE:
            raise OpFailed("op_auth_revocable_required")
        for value in (op.master_weight, op.low_threshold, op.med_threshold, op.high_threshold):
            if value is not None and not 0 <= value <= 255:
                raise OpFailed("op_threshold_out_of_range")
        if op.home_domain is not None and len(op.home_domain) > 32:
            raise OpFailed("op_invalid_home_domain")
        signer_key = signer_weight = None
        if op.signer is not None:
            if op.signer.signer_key.signer_key_type != SignerKeyType.SIGNER_KEY_TYPE_ED25519:
                raise OpFailed("op_bad_signer")
            signer_key = op.signer.signer_key.encoded_signer_key
            signer_weight = op.signer.weight
            if signer_key == account.account_id or not 0 <= signer_weight <= 255:
                raise OpFailed("op_bad_signer")
            if signer_weight and signer_key not in account.signers:
                if len(account.signers) >= MAX_SIGNERS:
                    raise OpFailed("op_too_many_signers")
                if account.balance < account.min_balance(extra_subentries=1):
                    raise OpFailed("op_low_reserve")
        account.flags = flags
        if op.master_weight is not None:
            account.master_weight = op.master_weight
        if op.low_threshold is not None:
            account.low_threshold = op.low_threshold
        if op.med_threshold is not None:
            account.med_threshold = op.med_threshold
        if op.high_threshold is not None:
            account.high_threshold = op.high_threshold
        if op.home_domain is not None:
            account.home_domain = op.home_domain
        if signer_key is not None:
            if signer_weight:
                account.signers[signer_key] = signer_weight
            else:
                account.signers.pop(signer_key, None)

    def _set_trust_line_flags(
        self,
        issuer: AccountState,
        trustor_id: str,
        asset: Asset,
        clear: int,
        set_: int,
        accounts,
        ledger: int,
        *,
        allow_trust: bool = False,
    ) -> None:
        if asset.is_native() or asset.issuer != issuer.account_id:
            raise OpFailed("op_malformed")
        if trustor_id == issuer.account_id:
            raise OpFailed("op_self_not_allowed" if allow_trust else "op_malformed")
        if set_ & TL_CLAWBACK_ENABLED or (set_ & clear):
            raise OpFailed("op_malformed")
        if allow_trust and not issuer.flags & AUTH_REQUIRED:
            raise OpFailed("op_trust_not_required")
        trustor = accounts.get(trustor_id)
        line = trustor.trustlines.get(asset_key(asset)) if trustor else None
        if line is None:
            raise OpFailed("op_no_trust_line")
        auth_bits = TL_AUTHORIZED | TL_AUTHORIZED_TO_MAINTAIN_LIABILITIES
        new_flags = (line.flags & ~clear) | set_
        if (new_flags & auth_bits) == auth_bits:
            raise OpFailed("op_invalid_state")
        revoking = (line.flags & TL_AUTHORIZED and not new_flags & TL_AUTHORIZED) or (
            line.flags & auth_bits and not new_flags & auth_bits
        )
        if revoking and not issuer.flags & AUTH_REVOCABLE:
            raise OpFailed("op_cant_revoke")
        line.flags = new_flags
        line.last_modified_ledger = ledger

    def _manage_data(self, op: ManageData, account: AccountState) -> None:
        name = op.data_name
        if not 1 <= len(name) <= 64:
            raise OpFailed("op_invalid_name")
        if op.data_value is None:
            if name not in account.data:
                raise OpFailed("op_data_name_not_found")
            del account.data[name]
            return
        if name not in account.data and account.balance < account.min_balance(1):
            raise OpFailed("op_low_reserve")
        account.data[name] = bytes(op.data_value)

    def _clawback(self, op: Clawback, issuer: AccountState, accounts, ledger: int) -> None:
        amount = self._amount(op.amount)
        asset = op.asset
        holder_id = op.from_.account_id
        if asset.is_native() or asset.issuer != issuer.account_id or holder_id == asset.issuer:
            raise OpFailed("op_malformed")
        holder = accounts.get(holder_id)
        line = holder.trustlines.get(asset_key(asset)) if holder else None
        if line is None:
            raise OpFailed("op_no_trust")
        if not line.flags & TL_CLAWBACK_ENABLED:
            raise OpFailed("op_not_clawback_enabled")
        if line.balance < amount:
            raise OpFailed("op_underfunded")
        line.balance -= amount
        line.last_modified_ledger = ledger

    def _account_merge(self, op: AccountMerge, source: AccountState, accounts, ledger: int) -> None:
        destination = accounts.get(op.destination.account_id)
        if op.destination.account_id == source.account_id:
            raise OpFailed("op_malformed")
        if destination is None:
            raise OpFailed("op_no_account")
        if source.flags & AUTH_IMMUTABLE:
            raise OpFailed("op_immutable_set")
        if source.subentries:
            raise OpFailed("op_has_sub_entries")
        destination.balance += source.balance
        destination.last_modified_ledger = ledger
        del accounts[source.account_id]
